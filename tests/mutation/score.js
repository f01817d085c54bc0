#!/usr/bin/env node
// Scores a Stryker JSON report per file, leaving out the mutants listed as equivalent.
// Usage: node score.js <mutation-report.json> <equivalent-mutants.json> [break-at-percent]
// An equivalent mutant is matched by file name, mutator, replacement and the trimmed text of the line it starts on
// (not the line number, so edits elsewhere in the file do not unmatch it). Where that text is on several lines of the
// file (`return;`, `{`), the entry must also say which of them it means: `occurrence`, 1-based among those lines;
// without it the entry matches none of them, so a new survivor on a line of the same text is never hidden.
'use strict';
const fs = require('fs');
const path = require('path');

const [reportPath, equivalentPath, breakAtArg] = process.argv.slice(2);
const report = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
const equivalents = equivalentPath && fs.existsSync(equivalentPath) ? JSON.parse(fs.readFileSync(equivalentPath, 'utf8')) : [];
const breakAt = Number(breakAtArg || 0);
const used = new Set();

const rows = [];
const survivors = [];
let failed = false;
for (const [file, data] of Object.entries(report.files).sort()) {
  const lines = data.source.split(/\r?\n/);
  const count = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Equivalent: 0, Other: 0 };
  for (const m of data.mutants) {
    if (m.status === 'Ignored' || m.status === 'CompileError') {
      count.Other++;
      continue;
    }
    if (m.status === 'Survived' || m.status === 'NoCoverage') {
      const text = (lines[m.location.start.line - 1] || '').trim();
      const same = lines.filter(l => l.trim() === text).length;
      const nth = lines.slice(0, m.location.start.line).filter(l => l.trim() === text).length;
      const index = equivalents.findIndex(e => file.endsWith(e.file) && e.mutator === m.mutatorName
        && e.replacement === m.replacement && e.line === text
        && (same === 1 || (Array.isArray(e.occurrence) && e.occurrence.includes(nth))));
      if (index >= 0) {
        used.add(index);
        count.Equivalent++;
        continue;
      }
      survivors.push(`${path.basename(file)}:${m.location.start.line} ${m.mutatorName} -> ${JSON.stringify(m.replacement)} (${m.status}) | ${text}`);
    }
    count[m.status] = (count[m.status] || 0) + 1;
  }
  const detected = count.Killed + count.Timeout;
  const all = detected + count.Survived + count.NoCoverage;
  if (all + count.Equivalent === 0) continue;
  const raw = 100 * detected / (all + count.Equivalent);
  const score = all === 0 ? 100 : 100 * detected / all;
  if (score < breakAt) failed = true;
  rows.push({ file: path.basename(file), total: all + count.Equivalent, ...count, raw, score });
}

const sum = k => rows.reduce((a, r) => a + r[k], 0);
console.log('| File | Mutants | Killed | Timeout | Survived | No coverage | Equivalent | Score (all) | Score (non-equivalent) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.file} | ${r.total} | ${r.Killed} | ${r.Timeout} | ${r.Survived} | ${r.NoCoverage} | ${r.Equivalent} | ${r.raw.toFixed(1)} % | ${r.score.toFixed(1)} % |`);
}
const det = sum('Killed') + sum('Timeout');
const tot = sum('total');
const eq = sum('Equivalent');
console.log(`| **all** | ${tot} | ${sum('Killed')} | ${sum('Timeout')} | ${sum('Survived')} | ${sum('NoCoverage')} | ${eq} | ${(100 * det / tot).toFixed(1)} % | ${(100 * det / (tot - eq)).toFixed(1)} % |`);
if (survivors.length) {
  console.log('\nSurvivors not listed as equivalent:');
  for (const s of survivors) console.log('- ' + s);
}
// Only entries of files this report tested: a scoped run leaves the other files' entries unmatched, and that says nothing.
const tested = Object.entries(report.files).filter(([, d]) => d.mutants.some(m => m.status !== 'Ignored' && m.status !== 'CompileError')).map(([f]) => f);
const unused = equivalents.filter((e, i) => !used.has(i) && tested.some(f => f.endsWith(e.file)));
if (unused.length) {
  console.log(`\n${unused.length} listed equivalent mutant(s) of the files tested not found among the survivors (killed now, or the code changed):`);
  for (const e of unused) console.log(`- ${e.file} ${e.mutator} -> ${JSON.stringify(e.replacement)} | ${e.line}`);
}
if (failed) {
  console.log(`\nA file scores below the break threshold of ${breakAt} %.`);
  process.exit(1);
}
