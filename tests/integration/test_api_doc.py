"""docs/api.md and the README's library example, run: each example prints what the page says it prints.

An *example* is a ```python block followed, with nothing but blank lines
between, by an ```output block. Each is run as a program of its own (as root,
by this interpreter, with ``/srv/`` replaced by a temporary directory holding
``image``: the session's busybox rootfs and the page's
``/srv/image/container.json``), and its stdout must be the output block
exactly, but for the placeholders below. It must exit 0 with nothing on
stderr, and leave nothing behind: no process, container state, cgroup or
mount of its own, and the image unchanged.

Directives, HTML comments in the page (not shown by a Markdown renderer):

- ``<!-- doc-test: continued by the next example, in another process -->``
  after an example: the next example is the same one's second program (a
  container created by the first and used by the second); nothing is
  checked for leftovers between the two.
- ``<!-- doc-test: needs_host FEATURE -->`` before an example: it needs that
  kind of host (libcontainer.testing.fixtures.HOST_FEATURES).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from libcontainer import syscalls as sc
from libcontainer.testing.fixtures import copy_rootfs, reap_orphans

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
README = ROOT / "README.md"
SRV = "/srv/"  # the examples' directory, replaced by the test's own
IMAGE_CONFIG_CUE = "`/srv/image/container.json`:"  # the line before the image's config block
CONTINUED = "continued by the next example, in another process"
# What varies from run to run, as the page writes it, and what it stands for.
PLACEHOLDERS = {
    "<seconds>": r"[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?",
    "<bytes>": r"[0-9]+",
}
PART_TIMEOUT = 120  # seconds for one program of an example
GONE_PATIENCE = 10.0  # seconds for what an example started to end after it exited


# -- pure helpers -----------------------------------------------------------------------


@dataclass
class Fence:
    info: str  # the fence's info string: python, output, json ...
    body: str  # its lines, each ending with a newline
    start: int  # offsets of the whole block in the page
    end: int
    line: int  # 1-based line of the opening fence


@dataclass
class Example:
    source: str  # the page's name
    line: int  # of the first program's opening fence
    heading: str  # the section it is in
    parts: list[tuple[str, str]] = field(default_factory=list)  # (program, expected stdout), run in order
    needs_host: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.source}:{self.line}"


def fences(markdown: str) -> list[Fence]:
    """Every fenced code block of ``markdown``."""
    return [Fence(m.group(1).strip(), m.group(2), m.start(), m.end(), markdown.count("\n", 0, m.start()) + 1)
            for m in re.finditer(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", markdown, re.S | re.M)]


def directives(text: str) -> list[str]:
    """The ``<!-- doc-test: ... -->`` comments in ``text``."""
    return [d.strip() for d in re.findall(r"<!--\s*doc-test:(.*?)-->", text, re.S)]


def examples(markdown: str, source: str) -> list[Example]:
    """The page's examples: python blocks with their output blocks, continued ones joined into one."""
    blocks = fences(markdown)
    found: list[Example] = []
    continued = False
    previous_end = 0
    for i, block in enumerate(blocks):
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if block.info != "python" or following is None or following.info != "output" \
                or markdown[block.end:following.start].strip():
            continue
        before = directives(markdown[previous_end:block.start])
        heading = _heading_before(markdown, block.start)
        if continued and found:
            example = found[-1]
        else:
            example = Example(source, block.line, heading)
            found.append(example)
        example.parts.append((block.body, following.body))
        example.needs_host += [d.split()[1] for d in before if d.startswith("needs_host ")]
        after_end = blocks[i + 2].start if i + 2 < len(blocks) else len(markdown)
        continued = CONTINUED in directives(markdown[following.end:after_end])
        previous_end = following.end
    return found


def _heading_before(markdown: str, offset: int) -> str:
    headings = re.findall(r"^#+ (.*)$", markdown[:offset], re.M)
    return headings[-1] if headings else ""


def image_config(markdown: str) -> dict:
    """The image's container.json: the json block right after the line that names it."""
    for block in fences(markdown):
        if block.info == "json" and markdown[:block.start].rstrip().endswith(IMAGE_CONFIG_CUE):
            return json.loads(block.body)
    raise AssertionError(f"no json block after {IMAGE_CONFIG_CUE!r}")


def substitute(text: str, srv: Path) -> str:
    """``text`` with the page's /srv/ replaced by the test's directory."""
    return text.replace(SRV, f"{srv}/")


def output_pattern(expected: str) -> re.Pattern[str]:
    """``expected`` as a regular expression: literal, but for the placeholders (never across a line)."""
    parts = re.split("(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + ")", expected)
    return re.compile("".join(PLACEHOLDERS[p] if p in PLACEHOLDERS else re.escape(p) for p in parts))


def output_matches(expected: str, actual: str) -> bool:
    return output_pattern(expected).fullmatch(actual) is not None


def explicit_ids(code: str) -> list[str]:
    """Container ids an example names (``id="job-42"``)."""
    return re.findall(r"""\bid=["']([A-Za-z0-9_.-]+)["']""", code)


def doc_examples() -> list[Example]:
    return examples(API_DOC.read_text(), "api.md") + examples(README.read_text(), "README.md")


# -- the helpers themselves ------------------------------------------------------------------


PAGE = """# Page

## First
```python
print("a")
```

```output
a
```

```python
print("not an example: no output block")
```

## Second
<!-- doc-test: needs_host cgroup-memory -->
```python
print("b")
```
```output
b
```
<!-- doc-test: continued by the next example, in another process -->
Then:
```python
print("c")
```

```output
c
```
"""


def test_examples_are_python_blocks_followed_by_output_blocks_and_continuations_join():
    found = examples(PAGE, "page")
    assert [(e.line, e.heading, e.parts, e.needs_host) for e in found] == [
        (4, "First", [('print("a")\n', "a\n")], []),
        (18, "Second", [('print("b")\n', "b\n"), ('print("c")\n', "c\n")], ["cgroup-memory"]),
    ]


def test_placeholders_match_only_what_they_stand_for():
    expected = "Usage(cpu_time=<seconds>, memory_peak=<bytes>, oom_killed=False)\n"
    assert output_matches(expected, "Usage(cpu_time=0.009082999999999999, memory_peak=14651392, oom_killed=False)\n")
    assert output_matches(expected, "Usage(cpu_time=5e-06, memory_peak=0, oom_killed=False)\n")
    assert not output_matches(expected, "Usage(cpu_time=0.1, memory_peak=14651392, oom_killed=True)\n")
    assert not output_matches(expected, "Usage(cpu_time=None, memory_peak=1, oom_killed=False)\n")
    assert not output_matches("<bytes>\n", "1\n2\n")  # never across a line
    assert output_matches("(a+b) [1]\n", "(a+b) [1]\n")  # the rest is literal
    assert not output_matches("137\n", "137\n\n")


def test_the_pages_have_their_examples():
    api = examples(API_DOC.read_text(), "api.md")
    assert len(api) >= 13
    assert any(len(e.parts) == 2 for e in api)  # the detached lifecycle, in two programs
    readme = examples(README.read_text(), "README.md")
    assert len(readme) == 1 and "print(result.stdout)" in readme[0].parts[0][0]
    assert image_config(API_DOC.read_text())["layer"]


def test_every_python_block_of_the_api_page_compiles():
    for block in fences(API_DOC.read_text()):
        if block.info == "python":
            compile(block.body, f"docs/api.md:{block.line}", "exec")


# -- running them -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(rootfs_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples' /srv: ``image``, the session's rootfs with the page's container.json."""
    srv = tmp_path_factory.mktemp("api-doc-srv")
    copy_rootfs(rootfs_template, srv / "image")
    (srv / "image" / "container.json").write_text(json.dumps(image_config(API_DOC.read_text()), indent=2))
    return srv


@pytest.fixture
def adopting():
    """This process as a child subreaper while the example runs: what it leaves running comes to us."""
    sc.real().set_child_subreaper(True)
    try:
        yield
    finally:
        sc.real().set_child_subreaper(False)
        reap_orphans()


@dataclass
class Snapshot:
    image: dict[str, tuple]  # every path of the image: mode, owner, size, mtime, link target
    srv: set[str]  # the names in /srv
    mounts: set[str]  # mountinfo lines naming /srv


def snapshot(srv: Path) -> Snapshot:
    image = {}
    for path in [srv / "image", *sorted((srv / "image").rglob("*"))]:
        st = path.lstat()
        target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
        image[str(path.relative_to(srv))] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, target)
    with open("/proc/self/mountinfo") as f:
        mounts = {line for line in f if str(srv) in line}
    return Snapshot(image, set(os.listdir(srv)), mounts)


def our_children() -> dict[int, str]:
    """This process's live children (zombies reaped first): pid -> command line."""
    reap_orphans()
    me = str(os.getpid())
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            if ppid == me:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    found[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            pass
    return found


def container_names(srv: Path, code: str) -> list[str]:
    """What the containers of an example are called: from_image's and a pool's ids, and those it names."""
    from libcontainer.ids import container_id

    image = container_id(srv / "image")
    return [image, f"pool-{image}", *explicit_ids(code)]


def states_left(srv: Path, names: list[str]) -> list[str]:
    from libcontainer.container import list_containers

    return [s.id for s in list_containers()
            if s.root.startswith(f"{srv}/") or any(s.id == n or s.id.startswith(f"{n}-") for n in names)]


def cgroups_left(names: list[str]) -> list[str]:
    """The cgroup directories (to three levels deep in every hierarchy) named after an example's containers."""
    roots = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.split()[:1] in (["cgroup"], ["cgroup2"]):
                roots.add(pre.split()[4])
    found = []
    for root in sorted(roots):
        for depth in ("*", "*/*", "*/*/*"):
            for d in Path(root).glob(depth):
                if d.is_dir() and any(d.name == n or d.name.startswith(f"{n}-") for n in names):
                    found.append(str(d))
    return found


def leftovers(srv: Path, before: Snapshot, names: list[str], patience: float = GONE_PATIENCE) -> list[str]:
    """What an example left behind, each as a line; what can be removed is removed."""
    problems = []
    deadline = time.monotonic() + patience
    while (children := our_children()) and time.monotonic() < deadline:
        time.sleep(0.05)  # a pool's keepers end their containers once the program has ended
    for pid, cmdline in children.items():
        problems.append(f"process {pid} still runs: {cmdline}")
        with contextlib.suppress(Exception):
            os.kill(pid, signal.SIGKILL)
    reap_orphans()
    for ident in states_left(srv, names):
        problems.append(f"container {ident} left (its state in /run/nsinit)")
        from libcontainer.container import Container

        with contextlib.suppress(Exception):
            Container.load(ident).delete(force=True)
    for directory in cgroups_left(names):
        problems.append(f"cgroup {directory} left")
        with contextlib.suppress(Exception):
            os.rmdir(directory)
    after = snapshot(srv)
    problems += [f"mount left: {line.strip()}" for line in sorted(after.mounts - before.mounts)]
    problems += [f"/srv/{name} left" for name in sorted(after.srv - before.srv)]
    problems += [f"/srv/{name} removed" for name in sorted(before.srv - after.srv)]
    changed = sorted(p for p in before.image.keys() | after.image.keys() if before.image.get(p) != after.image.get(p))
    problems += [f"the image was written: {p}" for p in changed]
    return problems


def run_part(code: str, srv: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    program = workdir / "example.py"
    program.write_text(substitute(code, srv))
    return subprocess.run([sys.executable, str(program)], cwd=workdir, capture_output=True, text=True,
                          timeout=PART_TIMEOUT, stdin=subprocess.DEVNULL)


def run_example(example: Example, srv: Path, workdir: Path, patience: float = GONE_PATIENCE) -> list[str]:
    """Every program of the example, in order; what differs from the page and what was left, as lines."""
    before = snapshot(srv)
    problems = []
    try:
        for number, (code, expected) in enumerate(example.parts, 1):
            try:
                result = run_part(code, srv, workdir)
            except subprocess.TimeoutExpired as e:
                problems.append(f"program {number} did not end within {PART_TIMEOUT} s (or what it started holds "
                                f"its stdout or stderr); it printed:\n{e.stdout}\nstderr:\n{e.stderr}")
                break
            wanted = substitute(expected, srv)
            if result.returncode != 0 or result.stderr:
                problems.append(f"program {number} exited {result.returncode}, stderr:\n{result.stderr}")
            if not output_matches(wanted, result.stdout):
                problems.append(f"program {number} printed:\n{result.stdout}\nthe page says:\n{wanted}")
            if problems:
                break
    finally:
        problems += leftovers(srv, before, container_names(srv, "".join(c for c, _ in example.parts)), patience)
    return problems


def _param(example: Example):
    marks = [pytest.mark.needs_host(*example.needs_host)] if example.needs_host else []
    return pytest.param(example, id=example.name, marks=marks)


@pytest.mark.privileged
@pytest.mark.parametrize("example", [_param(e) for e in doc_examples()])
def test_example_prints_what_the_page_says_and_leaves_nothing(example, srv, adopting, tmp_path):
    problems = run_example(example, srv, tmp_path)
    assert not problems, f"{example.name} ({example.heading}):\n" + "\n".join(problems)


# -- twins: drift and leftovers are caught ----------------------------------------------------------


@pytest.mark.privileged
def test_an_example_whose_output_drifted_from_the_page_fails(srv, adopting, tmp_path):
    code = ('from libcontainer import Container\n'
            'print(Container.from_image("/srv/image").run(["/bin/echo", "hi"], capture_output=True).stdout)\n')
    assert run_example(Example("twin", 1, "", [(code, "b'hi\\n'\n")]), srv, tmp_path) == []
    problems = run_example(Example("twin", 1, "", [(code, "b'hello\\n'\n")]), srv, tmp_path)
    assert len(problems) == 1 and problems[0].startswith("program 1 printed:\nb'hi\\n'"), problems


@pytest.mark.privileged
def test_an_example_that_leaves_a_container_fails_and_it_is_removed(srv, adopting, tmp_path):
    code = ('import subprocess\n'
            'from libcontainer import Container\n'
            'box = Container.from_image("/srv/image", id="doc-test-left")\n'
            'box.create(["/bin/sleep", "1000"], detach=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n'
            'box.start()\n'
            'print(box.status())\n')
    problems = run_example(Example("twin", 1, "", [(code, "running\n")]), srv, tmp_path, patience=1)
    assert "container doc-test-left left (its state in /run/nsinit)" in problems, problems
    assert any(p.startswith("process ") for p in problems), problems  # its keeper, adopted by us
    assert states_left(srv, ["doc-test-left"]) == [] and our_children() == {}


@pytest.mark.privileged
def test_an_example_that_writes_to_the_image_or_leaves_a_file_fails(srv, adopting, tmp_path):
    code = ('import os\n'
            'os.utime("/srv/image/etc/hostname")\n'
            'open("/srv/stray", "w").close()\n')
    problems = run_example(Example("twin", 1, "", [(code, "")]), srv, tmp_path)
    assert problems == ["/srv/stray left", "the image was written: image/etc/hostname"], problems
    (srv / "stray").unlink()
