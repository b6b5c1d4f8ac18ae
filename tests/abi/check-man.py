#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the man pages that meson generates and installs.

  check-man.py --version VERSION --source man --built BUILD/man
               [--cc 'cc ...' --include include --lib libfdpass.so.1]

- Every page of the source directory was generated into the build
  directory, identical except that @VERSION@ became VERSION.
- Every page that is not a ".so" link has a .TH line whose source says
  "libfdpass @VERSION@" and whose generated version is "libfdpass VERSION":
  no page can carry a version of its own.
- With --cc: every example program of the pages (between the lines
  '.\\" SRC BEGIN (name.c)' and '.\\" SRC END') is turned back from troff
  into C and compiled with -Wall -Wextra -Werror against the header and the
  library, as a user who copies it would: documentation is code.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

errors = []


def error(msg):
    errors.append(msg)


TH_RE = re.compile(r'^\.TH\s+(\S+)\s+(\S+)\s+(\S+)\s+"([^"]*)"', re.M)


def check_versions(source, built, version):
    pages = sorted(f for f in os.listdir(source) if re.search(r'\.[1-9]$', f))
    if not pages:
        error('%s: no man page' % source)
    for page in pages:
        with open(os.path.join(source, page), encoding='utf-8') as f:
            src = f.read()
        try:
            with open(os.path.join(built, page), encoding='utf-8') as f:
                out = f.read()
        except OSError:
            error('%s was not generated into %s (missing from man/meson.build?)'
                  % (page, built))
            continue
        if out != src.replace('@VERSION@', version):
            error('%s: the generated page differs from the source by more than '
                  '@VERSION@' % page)
        if re.search(r'^\.so ', src, re.M):
            continue
        m = TH_RE.search(src)
        if not m:
            error('%s: no .TH line' % page)
            continue
        if m.group(4) != 'libfdpass @VERSION@':
            error('%s: .TH says "%s"; write "libfdpass @VERSION@", which meson fills '
                  'in from the project version' % (page, m.group(4)))
        m = TH_RE.search(out)
        if not m or m.group(4) != 'libfdpass ' + version:
            error('%s: the generated .TH says "%s", the project is %s'
                  % (page, m.group(4) if m else '?', version))
    return pages


ESCAPES = [('\\-', '-'), ('\\(aq', "'"), ('\\(dq', '"'), ('\\(ga', '`'),
           ('\\(ti', '~'), ('\\(ha', '^'), ('\\&', ''), ('\\e', '\\')]


def troff_to_text(line):
    """A line of an .EX block as the reader sees it."""
    out, i = [], 0
    while i < len(line):
        for esc, rep in ESCAPES:
            if line.startswith(esc, i):
                out.append(rep)
                i += len(esc)
                break
        else:
            if line.startswith('\\f', i):  # font changes
                i += 3 if line[i + 2:i + 3] != '(' else 5
                continue
            if line[i] == '\\':
                error('unknown troff escape %r in %r' % (line[i:i + 3], line))
            out.append(line[i])
            i += 1
    return ''.join(out)


SRC_RE = re.compile(r'^\.\\" SRC BEGIN \(([^)]+)\)\n(.*?)^\.\\" SRC END$', re.M | re.S)


def examples(built, pages):
    """[(page, name, C source)] of every example program."""
    found = []
    for page in pages:
        with open(os.path.join(built, page), encoding='utf-8') as f:
            text = f.read()
        for m in SRC_RE.finditer(text):
            lines = [l for l in m.group(2).splitlines() if not l.startswith('.')]
            found.append((page, m.group(1), '\n'.join(troff_to_text(l) for l in lines)
                          + '\n'))
    return found


def compile_examples(found, cc, include, lib):
    libdir = os.path.dirname(os.path.abspath(lib))
    with tempfile.TemporaryDirectory(prefix='fdpass-man-') as tmp:
        for page, name, src in found:
            path = os.path.join(tmp, page + '-' + name)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(src)
            cmd = shlex.split(cc) + ['-std=gnu11', '-Wall', '-Wextra', '-Werror',
                                     '-I', include, '-o', path + '.out', path,
                                     '-L', libdir, '-l:' + os.path.basename(lib),
                                     '-lpthread']
            cp = subprocess.run(cmd, capture_output=True, text=True)
            if cp.returncode != 0:
                error('%s: the example %s does not compile:\n%s\n%s'
                      % (page, name, ' '.join(cmd), cp.stderr))
            else:
                print('ok: %s: %s compiles' % (page, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--version', required=True)
    ap.add_argument('--source', required=True)
    ap.add_argument('--built', required=True)
    ap.add_argument('--cc')
    ap.add_argument('--include')
    ap.add_argument('--lib')
    args = ap.parse_args()

    pages = check_versions(args.source, args.built, args.version)
    print('checked the version of %d pages: libfdpass %s' % (len(pages), args.version))
    if args.cc:
        found = examples(args.built, pages)
        if not found:
            error('no example program found in the pages')
        compile_examples(found, args.cc, args.include, args.lib)
    for e in errors:
        print('FAIL: ' + e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
