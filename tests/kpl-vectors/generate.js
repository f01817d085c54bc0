// Generates KPL aggregated-record test vectors with the official Node aggregator (aws-kinesis-agg, pinned in
// package.json). Run `npm ci && node generate.js`; it rewrites kpl-vectors.json next to this file.
// Every input is deterministic (fixed strings and a seeded PRNG), so rerunning yields the same file.
'use strict';

const fs = require('fs');
const path = require('path');
const { aggregate } = require('aws-kinesis-agg');
const aggVersion = require('aws-kinesis-agg/package.json').version;

// Mulberry32: small seeded PRNG, so the vectors do not change between runs.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand, length) {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    b[i] = Math.floor(rand() * 256);
  }
  return b;
}

// Aggregates `records` with the library's `aggregate` API and resolves with every encoded Kinesis record it
// emitted, in order.
function runAggregate(records) {
  return new Promise((resolve, reject) => {
    const encoded = [];
    const errors = [];
    // The library mutates string data into Buffers; give it copies so the expectations stay untouched.
    const input = records.map((r) => ({ ...r, data: Buffer.from(r.data) }));
    aggregate(
      input,
      (encodedRecord, done) => {
        encoded.push(encodedRecord);
        done(null, null);
      },
      () => (errors.length > 0 ? reject(errors[0]) : resolve(encoded)),
      (err) => errors.push(err || new Error('aggregate reported an error')));
  });
}

const scenarios = [];

scenarios.push({
  name: 'single-record',
  records: [{ partitionKey: 'pk-1', data: Buffer.from('hello, kinesis', 'utf8') }],
});

{
  const rand = prng(1);
  const records = [];
  for (let i = 0; i < 300; i++) {
    records.push({ partitionKey: `device-${i % 7}`, data: randomBytes(rand, 1 + Math.floor(rand() * 200)) });
  }
  scenarios.push({ name: 'many-records-binary', records });
}

scenarios.push({
  name: 'unicode-partition-keys',
  records: [
    { partitionKey: 'ключ', data: Buffer.from('cyrillic') },
    { partitionKey: '键-🔑', data: Buffer.from('cjk and astral') },
    { partitionKey: 'café', data: Buffer.from('latin-1 range') },
    { partitionKey: 'ключ', data: Buffer.from('same key again') },
    { partitionKey: '\u{1F600}'.repeat(64), data: Buffer.from('256 UTF-8 bytes of emoji') },
  ],
});

scenarios.push({
  name: 'explicit-hash-keys',
  records: [
    { partitionKey: 'a', explicitHashKey: '0', data: Buffer.from('lowest hash') },
    { partitionKey: 'b', data: Buffer.from('no explicit hash key') },
    { partitionKey: 'a', explicitHashKey: '340282366920938463463374607431768211455', data: Buffer.from('highest hash') },
    { partitionKey: 'c', explicitHashKey: '170141183460469231731687303715884105728', data: Buffer.from('middle') },
    { partitionKey: 'b', explicitHashKey: '0', data: Buffer.from('repeated hash key') },
  ],
});

scenarios.push({
  name: 'empty-data',
  records: [
    { partitionKey: 'e', data: Buffer.alloc(0) },
    { partitionKey: 'f', data: Buffer.from('between two empty ones') },
    { partitionKey: 'e', data: Buffer.alloc(0) },
  ],
});

{
  const records = [];
  const base = 1737367200000;
  for (let i = 0; i < 50; i++) {
    const sample = {
      metric: i % 2 === 0 ? 'latency_ms' : 'requests',
      value: i % 2 === 0 ? 12.5 + i : i,
      timestamp: base + i * 1000,
      dimensions: { service: `svc-${i % 3}`, region: 'eu-west-1' },
    };
    records.push({ partitionKey: `svc-${i % 3}`, data: Buffer.from(JSON.stringify(sample), 'utf8') });
  }
  scenarios.push({ name: 'metric-json', records });
}

{
  const rand = prng(2);
  scenarios.push({
    name: 'multi-byte-lengths',
    records: [
      { partitionKey: 'big', data: randomBytes(rand, 20000) },
      { partitionKey: 'x'.repeat(200), data: randomBytes(rand, 130) },
    ],
  });
}

async function main() {
  const vectors = [];
  for (const s of scenarios) {
    const encoded = await runAggregate(s.records);
    if (encoded.length !== 1) {
      throw new Error(`${s.name}: expected one aggregated record, got ${encoded.length}`);
    }
    vectors.push({
      name: s.name,
      aggregated: encoded[0].data.toString('base64'),
      records: s.records.map((r) => ({
        partitionKey: r.partitionKey,
        explicitHashKey: r.explicitHashKey === undefined ? null : r.explicitHashKey,
        data: Buffer.from(r.data).toString('base64'),
      })),
    });
  }

  const out = { generator: `aws-kinesis-agg ${aggVersion}`, vectors };
  fs.writeFileSync(path.join(__dirname, 'kpl-vectors.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${vectors.length} vectors`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
