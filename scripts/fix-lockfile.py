#!/usr/bin/env python3
# Run after `npm install` changes package-lock.json: `python3 scripts/fix-lockfile.py package-lock.json`.
# Registry mirrors that serve only the host platform's builds leave platform-specific optional
# packages (biome, swc, esbuild binaries for other systems) out of the lock, and `npm ci` then
# refuses it as out of sync. npm skips these entries on other platforms by their os/cpu fields.
"""Adds lock entries for platform-specific optional packages that this registry does not serve."""
import json, re, sys
p = sys.argv[1]
lock = json.load(open(p))
pk = lock['packages']
added = 0
def platform(name):
    n = name.split('/')[-1]
    os_ = next((o for o in ['darwin','win32','android','linux','freebsd','openbsd','sunos','aix','netbsd'] if o in n), None)
    cpu = next((c for c in ['arm64','x64','ia32','arm','ppc64','s390x','riscv64','loong64','mips64el','wasm32'] if re.search(r'(^|-)'+c+r'($|-)', n)), None)
    libc = 'musl' if 'musl' in n else ('glibc' if os_=='linux' else None)
    return os_, cpu, libc
for path, meta in list(pk.items()):
    for dep, ver in (meta.get('optionalDependencies') or {}).items():
        base = (path + '/node_modules/' if path else 'node_modules/') + dep
        if base in pk or ('node_modules/' + dep) in pk:
            continue
        os_, cpu, libc = platform(dep)
        if not os_:
            continue
        e = {'version': ver, 'dev': meta.get('dev', False) or None, 'optional': True, 'os': [os_]}
        if cpu: e['cpu'] = [cpu]
        if libc: e['libc'] = [libc]
        e = {k: v for k, v in e.items() if v is not None}
        pk['node_modules/' + dep] = e
        added += 1
lock['packages'] = dict(sorted(pk.items(), key=lambda kv: (kv[0] != '', kv[0])))
json.dump(lock, open(p, 'w'), indent=2)
open(p, 'a').write('\n')
print(f'added {added} platform entries')
