#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check what libfdpass exports against what the project declares.

The shared library may export only fdpass_* functions, each with the default
version (fdpass_x@@LIBFDPASS_x.y) of the node the version script puts it in,
plus the version node names themselves. The exported set must equal the
global symbols of the version script, the FDPASS_PUBLIC prototypes of the
public header and the man pages man/<symbol>.3, so that none of them can be
forgotten when a function is added. A leaked internal symbol is caught here:
abidiff --no-added-syms does not report additions.

Usage:
  check-symbols.py --lib libfdpass.so.1 [--soname libfdpass.so.1]
                   [--map lib/libfdpass.map] [--header include/fdpass.h]
                   [--mandir man] [--api-test tests/abi/header-test.c]
                   [--static libfdpass.a] [--libsrc lib]
With --libsrc too, the errors that each man page lists in RETURN VALUE and
ERRORS are compared with those the header lists for its functions.
With --lib (and --soname) only, it checks an installed library's exports.
Needs readelf and nm (binutils).
"""

import argparse
import os
import re
import subprocess
import sys

NODE_RE = re.compile(r'^LIBFDPASS_[0-9]+\.[0-9]+$')
PUBLIC_RE = re.compile(r'^fdpass_[a-z0-9_]+$')
INTERNAL_PREFIX = 'fdp_'

errors = []


def error(msg):
    errors.append(msg)


def run(cmd):
    try:
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit('check-symbols: %s not found (install binutils)' % cmd[0])
    except subprocess.CalledProcessError as e:
        sys.exit('check-symbols: %s failed:\n%s' % (' '.join(cmd), e.stderr))
    return res.stdout


def strip_c_comments(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    return re.sub(r'//[^\n]*', ' ', text)


# ---------------------------------------------------------------- library

DYNSYM_RE = re.compile(
    r'^\s*\d+:\s+[0-9a-fA-F]+\s+\S+\s+(?P<type>\S+)\s+(?P<bind>\S+)\s+'
    r'(?P<vis>\S+)(?:\s+\[[^\]]*\])?\s+(?P<ndx>\S+)\s+(?P<name>\S+)')


def dynamic_exports(lib):
    """Return ({name: (node, type)}, {version node names}) for a library.

    Every other defined, non-LOCAL dynamic symbol is an error."""
    exports, nodes = {}, set()
    for line in run(['readelf', '--dyn-syms', '-W', lib]).splitlines():
        m = DYNSYM_RE.match(line)
        if not m or m['ndx'] == 'UND' or m['bind'] == 'LOCAL':
            continue
        full, stype = m['name'], m['type']
        base = full.split('@', 1)[0]
        if m['ndx'] == 'ABS' and stype == 'OBJECT' and NODE_RE.match(base):
            nodes.add(base)  # the version definition itself
            continue
        if '@@' not in full:
            if '@' in full:
                error('%s: non-default (compat) version: %s' % (lib, full))
            else:
                error('%s: unversioned export: %s '
                      '(not covered by the version script?)' % (lib, full))
            continue
        name, node = full.split('@@', 1)
        exports[name] = node
        if not PUBLIC_RE.match(name) or not NODE_RE.match(node):
            error('%s: export not of the form fdpass_*@@LIBFDPASS_x.y: %s '
                  '(%s %s)' % (lib, full, m['bind'], stype))
            continue
        if stype not in ('FUNC', 'IFUNC'):
            error('%s: %s is exported as %s, not a function: the size of '
                  'exported data is ABI forever' % (lib, full, stype))
        if m['vis'] not in ('DEFAULT', 'PROTECTED'):
            error('%s: %s has visibility %s' % (lib, full, m['vis']))
    return exports, nodes


def check_soname(lib, want):
    sonames = re.findall(r'\(SONAME\)\s+Library soname: \[([^\]]*)\]',
                         run(['readelf', '-d', '-W', lib]))
    if sonames != [want]:
        error('%s: soname is %s, expected %s'
              % (lib, ', '.join(sonames) or 'missing', want))


def check_static(archive, public, what):
    """The static library has no version script: its global names must be
    public functions or carry the internal fdp_ prefix."""
    out = run(['nm', '-g', '--defined-only', '-P', archive])
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0].endswith(':') or parts[0].endswith(']:'):
            continue  # archive member headers: "libfdpass.a[errors.c.o]:"
        name = parts[0]
        if name in public or name.startswith(INTERNAL_PREFIX):
            continue
        error('%s: global symbol %s is neither a public function (%s) nor '
              'prefixed %s: it can clash with users of the static library'
              % (archive, name, what, INTERNAL_PREFIX))


# ---------------------------------------------------------------- map file

def parse_map(path):
    """Return ({symbol: node}, [(node, parent, has_local_star)])."""
    with open(path, encoding='utf-8') as f:
        text = strip_c_comments(f.read())
    text = re.sub(r'#[^\n]*', ' ', text)
    if 'extern' in text:
        error('%s: extern "C++" blocks are not expected' % path)
    toks = re.findall(r'[{};:]|[^\s{};:]+', text)
    symbols, nodes, i = {}, [], 0

    def tok(k):
        return toks[k] if k < len(toks) else None

    while i < len(toks):
        node = toks[i]
        if node in '{};:' or tok(i + 1) != '{':
            error('%s: cannot parse near %r' % (path, ' '.join(toks[i:i + 4])))
            return symbols, nodes
        i += 2
        section, local_star = 'global', False
        while tok(i) not in ('}', None):
            if tok(i) in ('global', 'local') and tok(i + 1) == ':':
                section = toks[i]
                i += 2
                continue
            sym = toks[i]
            if tok(i + 1) != ';':
                error('%s: missing ";" after %s' % (path, sym))
            i += 2
            if section == 'local':
                if sym == '*':
                    local_star = True
                else:
                    error('%s: node %s: unexpected local symbol %s'
                          % (path, node, sym))
                continue
            if re.search(r'[*?\[]', sym):
                error('%s: node %s: wildcard %s in global: list each symbol'
                      % (path, node, sym))
                continue
            if sym in symbols:
                error('%s: %s is listed in %s and %s'
                      % (path, sym, symbols[sym], node))
            symbols[sym] = node
        i += 1  # '}'
        parent = None
        if tok(i) not in (';', None):
            parent = toks[i]
            i += 1
        if tok(i) != ';':
            error('%s: missing ";" after node %s' % (path, node))
        i += 1
        nodes.append((node, parent, local_star))
    return symbols, nodes


def check_map_shape(path, nodes):
    """One node per release, each chained to the one before; only the first
    one has 'local: *;' (STYLE.md, "An ABI that never breaks")."""
    if not nodes:
        error('%s: no version node' % path)
        return
    prev = None
    for idx, (node, parent, local_star) in enumerate(nodes):
        if not NODE_RE.match(node):
            error('%s: node %s is not named LIBFDPASS_x.y' % (path, node))
        if idx == 0:
            if not local_star:
                error('%s: the first node %s lacks "local: *;"' % (path, node))
            if parent:
                error('%s: the first node %s inherits %s' % (path, node, parent))
        else:
            if local_star:
                error('%s: only the first node may have "local: *;", %s has '
                      'it too' % (path, node))
            if parent != prev:
                error('%s: node %s must inherit the node before it (%s), not %s'
                      % (path, node, prev, parent or 'nothing'))
        prev = node


# ---------------------------------------------------------------- header

def parse_header(path):
    """Names of the functions declared FDPASS_PUBLIC in the header."""
    with open(path, encoding='utf-8') as f:
        text = strip_c_comments(f.read())
    text = re.sub(r'\\\n', ' ', text)  # continued preprocessor lines
    text = '\n'.join(l for l in text.splitlines() if not l.lstrip().startswith('#'))
    text = re.sub(r'extern\s+"C"\s*\{', ' ', text)
    names = set()
    for stmt in text.split(';'):
        stmt = stmt.replace('{', ' ').replace('}', ' ')
        m = re.search(r'\bFDPASS_PUBLIC\b([^(]*)\(', stmt, flags=re.S)
        if m:
            ident = re.findall(r'[A-Za-z_]\w*', m.group(1))
            if not ident:
                error('%s: cannot parse declaration: %s' % (path, ' '.join(stmt.split())))
                continue
            names.add(ident[-1])
            continue
        m = re.search(r'\b(fdpass_\w+)\s*\(', stmt)
        if m and 'typedef' not in stmt:
            error('%s: %s is declared without FDPASS_PUBLIC: it would stay '
                  'hidden in the shared library' % (path, m.group(1)))
    if not names:
        error('%s: no FDPASS_PUBLIC prototype found' % path)
    return names


# ---------------------------------------------------------------- errors

ERR_RE = re.compile(r'-E[A-Z0-9]+\b')


def header_blocks(path):
    """{function: the comment block that documents it}: the last comment
    before its prototype (one block may document several prototypes)."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    blocks, last = {}, ''
    for m in re.finditer(r'/\*.*?\*/|\bFDPASS_PUBLIC\b[^;]*;', text, flags=re.S):
        tok = m.group(0)
        if tok.startswith('/*'):
            last = tok
            continue
        name = re.search(r'(fdpass_\w+)\s*\(', tok)
        if name:
            blocks[name.group(1)] = last
    return blocks


def library_errors(srcdir):
    """The errors to which the library gives a meaning of its own: those
    that fdpass_strerror() describes itself (the cases of errors.c)."""
    with open(os.path.join(srcdir, 'errors.c'), encoding='utf-8') as f:
        text = strip_c_comments(f.read())
    return {'-' + e for e in re.findall(r'\bcase\s+(E[A-Z0-9]+)\s*:', text)}


def man_sections(text, names):
    """The text of the sections named names (.SH NAME ... up to the next .SH)."""
    out = []
    for part in re.split(r'^\.SH\s+', text, flags=re.M)[1:]:
        title = part.split('\n', 1)[0].strip().strip('"')
        if title in names:
            out.append(part)
    return '\n'.join(out)


def check_errors(mandir, header, srcdir, public):
    """What each man page lists in RETURN VALUE and ERRORS, against what
    the header's comment lists for the functions of the page:
    - every error the header names must be in the page;
    - an error in the page to which the library gives a meaning of its own
      (fdpass_strerror() describes it) must be in the header, in the
      comment of one of the page's functions or of a call that comment
      refers to ("see fdpass_connect()"). Errors that a system call
      reports and the call passes on may be in the page only.
    """
    blocks = header_blocks(header)
    own = library_errors(srcdir)
    pages = 0
    for page in sorted(os.listdir(mandir)):
        if not re.search(r'\.[37]$', page):
            continue
        with open(os.path.join(mandir, page), encoding='utf-8') as f:
            text = f.read()
        if re.search(r'^\.so ', text, flags=re.M):
            continue
        name = man_sections(text, {'NAME'})
        funcs = [f for f in re.findall(r'\b(fdpass_\w+)\b', name.split('\\-')[0])
                 if f in public]
        if not funcs:
            continue
        pages += 1
        man_errs = {e.replace('\\-', '-') for e in
                    re.findall(r'\\-E[A-Z0-9]+\b', man_sections(text, {'RETURN VALUE', 'ERRORS'}))}
        hdr_errs, allowed = set(), set()
        for f in funcs:
            block = blocks.get(f, '')
            hdr_errs |= set(ERR_RE.findall(block))
            for g in set(re.findall(r'\b(fdpass_\w+)\(\)', block)) | {f}:
                allowed |= set(ERR_RE.findall(blocks.get(g, '')))
        for e in sorted(hdr_errs - man_errs):
            error('man/%s: the header lists %s for %s, but RETURN VALUE and ERRORS do '
                  'not' % (page, e, ', '.join(funcs)))
        for e in sorted((man_errs & own) - allowed):
            error('man/%s: RETURN VALUE or ERRORS lists %s, an error with a meaning '
                  'of its own in the library, but the header does not list it for %s'
                  % (page, e, ', '.join(funcs)))
    return pages


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--lib', required=True, help='the shared library')
    ap.add_argument('--soname', default='libfdpass.so.1')
    ap.add_argument('--map')
    ap.add_argument('--header')
    ap.add_argument('--mandir')
    ap.add_argument('--api-test', help='source that must name every function')
    ap.add_argument('--static', help='the static library')
    ap.add_argument('--libsrc', help="the library's sources: with --header and "
                    '--mandir, compare the errors of header and man pages')
    args = ap.parse_args()

    exports, lib_nodes = dynamic_exports(args.lib)
    check_soname(args.lib, args.soname)
    if not exports:
        error('%s exports no fdpass_ function at all' % args.lib)

    sources = {'exported': set(exports)}
    if args.map:
        map_syms, map_nodes = parse_map(args.map)
        check_map_shape(args.map, map_nodes)
        sources['version script'] = set(map_syms)
        for sym in sorted(set(map_syms) & set(exports)):
            if exports[sym] != map_syms[sym]:
                error('%s is exported as version %s, the version script puts '
                      'it in %s' % (sym, exports[sym], map_syms[sym]))
        declared_nodes = {n for n, _, _ in map_nodes}
        for node in sorted(declared_nodes ^ lib_nodes):
            error('version node %s is %s' % (node, 'in the library but not the '
                  'version script' if node in lib_nodes else 'in the version '
                  'script but not defined by the library (a node without '
                  'symbols?)'))
    if args.header:
        sources['header'] = parse_header(args.header)
    pages = os.listdir(args.mandir) if args.mandir and os.path.isdir(args.mandir) else []
    if args.mandir:
        sources['man page'] = {
            f[:-2] for f in pages
            if f.endswith('.3') and f[:-2] in set().union(*sources.values())}
    if args.api_test:
        with open(args.api_test, encoding='utf-8') as f:
            used = set(re.findall(r'\bfdpass_\w+', f.read()))
        sources['api test'] = used & set().union(*sources.values())
    if args.static:
        if 'header' in sources:
            check_static(args.static, sources['header'], 'declared in the header')
        else:
            check_static(args.static, set(exports),
                         'exported by the shared library')

    everything = set().union(*sources.values())
    missing = {k: sorted(everything - v) for k, v in sources.items()}
    if any(missing.values()):
        cols = list(sources)
        width = max(len(s) for s in everything)
        lines = ['the public functions do not match (x = present):',
                 '  %-*s  %s' % (width, 'symbol', '  '.join(cols))]
        for sym in sorted(everything):
            if all(sym in v for v in sources.values()):
                continue
            lines.append('  %-*s  %s' % (width, sym, '  '.join(
                ('x' if sym in sources[c] else '-').center(len(c)) for c in cols)))
        hints = {
            'exported': 'not exported: missing FDPASS_EXPORT on the '
                        'definition, or not built',
            'version script': 'not in lib/libfdpass.map: add it to the '
                              'newest unreleased node',
            'header': 'not declared FDPASS_PUBLIC in include/fdpass.h',
            'man page': 'no man page: man/<symbol>.3 is missing',
            'api test': 'not referenced by tests/abi/header-test.c: add a '
                        'typed pointer to it there',
        }
        for k, v in missing.items():
            if v:
                lines.append('%s: %s' % (hints[k], ', '.join(v)))
        error('\n'.join(lines))

    error_pages = 0
    if args.mandir and args.header and args.libsrc:
        error_pages = check_errors(args.mandir, args.header, args.libsrc, sources['header'])

    if args.mandir:
        stale = sorted(f for f in pages
                       if re.match(r'fdpass_\w+\.3$', f) and f[:-2] not in everything)
        if stale:
            print('note: man pages for no known function: %s' % ', '.join(stale))

    if errors:
        for e in errors:
            print('FAIL: ' + e)
        return 1
    print('ok: %s exports %d functions (%s), soname %s%s%s' % (
        args.lib, len(exports), ', '.join(sorted(exports)), args.soname,
        ''.join('; matches the ' + k for k in sources if k != 'exported'),
        '; the errors of %d man pages match the header' % error_pages if error_pages else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
