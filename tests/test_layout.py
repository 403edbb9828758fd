"""The package layout stays readable: no import cycles (function-level imports included), no
oversized modules, no citations of notes that are not in the repository."""
import ast
import os
import os.path as osp
import re
import subprocess

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = osp.join(ROOT, 'emo_mm')
MAX_MODULE_LINES = 450


def _module_files():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith('.py'):
                path = osp.join(folder, name)
                rel = osp.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                yield rel[:-len('.__init__')] if rel.endswith('.__init__') else rel, path


MODULES = dict(_module_files())


def _resolve(module: str, path: str, level: int, target: str) -> str:
    if level == 0:
        return target
    package = module if path.endswith('__init__.py') else module.rsplit('.', 1)[0]
    for _ in range(level - 1):
        package = package.rsplit('.', 1)[0]
    return f'{package}.{target}' if target else package


def internal_imports(module: str, path: str) -> set:
    """The emo_mm modules that ``module`` imports anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node.level, node.module or '')
            names = [base] + [f'{base}.{alias.name}' for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in MODULES and name != module)
    return found


def find_cycle(graph: dict):
    """A list of modules forming a cycle in ``graph``, or None."""
    state = {}

    def visit(node, stack):
        state[node] = 'open'
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if state.get(other) == 'open':
                return stack[stack.index(other):] + [other]
            if other not in state:
                cycle = visit(other, stack)
                if cycle:
                    return cycle
        state[node] = 'done'
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set(), 'c': {'a'}}) is None


def test_no_import_cycles():
    graph = {}
    for module, path in MODULES.items():
        # a package's own __init__ imports its children; a child importing a sibling through
        # the package ("from . import x") is an edge to the sibling, not to the package
        graph[module] = {m for m in internal_imports(module, path)
                         if not (m in MODULES and module.startswith(m + '.'))}
    assert find_cycle(graph) is None, f'import cycle: {" -> ".join(find_cycle(graph))}'


def test_io_imports_nothing_of_emo_mm_outside_io():
    for module, path in MODULES.items():
        if module.startswith('emo_mm.io'):
            outside = {m for m in internal_imports(module, path) if not m.startswith('emo_mm.io')}
            assert not outside, f'{module} imports {outside}'


@pytest.mark.parametrize('module', sorted(MODULES))
def test_module_size(module):
    lines = len(open(MODULES[module]).read().splitlines())
    assert lines <= MAX_MODULE_LINES, f'{module} has {lines} lines; split it by job'


def test_nothing_cites_notes_outside_the_repository():
    tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    # the note names, spelled in pieces so that this file does not cite them itself
    notes = ['emo' + '_facts', 'edgeformer' + '_facts', 'shared' + '/spec', 'stack' + r'\.md',
             'style' + r'\.md']
    pattern = re.compile('|'.join(notes))
    offenders = []
    for rel in tracked:
        if not rel.endswith(('.py', '.md', '.yml', '.yaml', '.sh', '.txt', '.cfg', '.ini')):
            continue
        with open(osp.join(ROOT, rel), errors='replace') as f:
            for number, line in enumerate(f, 1):
                if pattern.search(line):
                    offenders.append(f'{rel}:{number}: {line.strip()[:80]}')
    assert not offenders, 'cite the repository\'s docs instead:\n' + '\n'.join(offenders)
