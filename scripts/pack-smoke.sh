#!/usr/bin/env bash
# Packs kairos, installs the tarball into an empty ESM app, imports it and checks that a task fires.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -n 1)"
cd "$work"
npm init -y >/dev/null
npm pkg set type=module >/dev/null
npm install --no-audit --no-fund --silent "./$tarball" >/dev/null
cat > app.js <<'JS'
import { Scheduler, CronTrigger, DateTrigger } from 'kairos';
if (typeof CronTrigger !== 'function') throw new Error('CronTrigger missing');
const scheduler = new Scheduler();
await scheduler.start();
const fired = new Promise((resolve) => {
  scheduler.addTask(() => resolve('fired'), { trigger: new DateTrigger(Date.now() + 100) });
});
const result = await Promise.race([fired, new Promise((_, reject) => setTimeout(() => reject(new Error('no fire')), 5000))]);
await scheduler.shutdown();
const loaded = Object.keys((await import('node:module')).createRequire(import.meta.url).cache);
if (loaded.some((path) => path.includes('better-sqlite3') || path.includes('/pg/'))) throw new Error('kairos loaded a database driver');
console.log(`pack smoke test: ${result}`);
JS
node app.js
# The `kairos` command, as installed from the tarball (its bin link, its commander dependency).
out="$(./node_modules/.bin/kairos next '30 2 * * *' --tz America/New_York --start 2026-03-07 -n 2)"
echo "$out" | grep -q 'DST gap' || { echo "pack smoke test: kairos next did not mark the DST gap:"; echo "$out"; exit 1; }
set +e
./node_modules/.bin/kairos tasks --store sqlite:./missing.db 2>/dev/null
code=$?
set -e
[ "$code" = 2 ] && [ ! -e missing.db ] || { echo "pack smoke test: kairos tasks on a missing store exited $code"; exit 1; }
echo "pack smoke test: kairos command works"
