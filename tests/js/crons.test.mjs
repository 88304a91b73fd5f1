// Crons through the JS SDK: create/createForThread/search/count/update/delete, and a thread cron
// that really fires (contract §2.1 Cron; sdk-transcript.json "crons.*"). Firing uses croniter's
// seconds field (a sixth field: `* * * * * */2` is every two seconds), as tests/e2e/test_crons.py.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AGENT_ASSISTANT_ID, UUID, client, newThread, rejectsWith, sleep, until } from "./lib.mjs";

const CRON_KEYS = [
  "assistant_id",
  "created_at",
  "cron_id",
  "enabled",
  "end_time",
  "metadata",
  "next_run_date",
  "on_run_completed",
  "payload",
  "schedule",
  "thread_id",
  "timezone",
  "updated_at",
  "user_id",
];

test("a stateless cron has the official shape", async () => {
  const cron = await client.crons.create("agent", { schedule: "*/5 * * * *", input: { items: ["cron"] } });
  try {
    assert.deepEqual(Object.keys(cron).sort(), CRON_KEYS);
    assert.match(cron.cron_id, UUID);
    assert.equal(cron.assistant_id, AGENT_ASSISTANT_ID);
    assert.equal(cron.thread_id, null);
    assert.equal(cron.end_time, null);
    assert.equal(cron.timezone, null);
    assert.equal(cron.on_run_completed, "delete");
    assert.equal(cron.enabled, true);
    assert.deepEqual(cron.metadata, {});
    assert.deepEqual(cron.payload, {
      schedule: "*/5 * * * *",
      input: { items: ["cron"] },
      assistant_id: AGENT_ASSISTANT_ID,
      config: { configurable: { cron_id: cron.cron_id } },
    });
    const next = new Date(cron.next_run_date);
    assert.ok(next > new Date(), cron.next_run_date);
    assert.equal(next.getUTCMinutes() % 5, 0);
    assert.equal(next.getUTCSeconds(), 0);
  } finally {
    await client.crons.delete(cron.cron_id);
  }
});

test("a thread cron names its thread and has no on_run_completed; a missing thread is 404", async () => {
  const threadId = await newThread();
  const cron = await client.crons.createForThread(threadId, "agent", {
    schedule: "0 0 * * *",
    input: { items: ["tc"] },
    multitaskStrategy: "enqueue",
  });
  try {
    assert.deepEqual(Object.keys(cron).sort(), CRON_KEYS);
    assert.equal(cron.thread_id, threadId);
    assert.equal(cron.on_run_completed, null);
    const next = new Date(cron.next_run_date);
    assert.deepEqual([next.getUTCHours(), next.getUTCMinutes(), next.getUTCSeconds()], [0, 0, 0]);
  } finally {
    await client.crons.delete(cron.cron_id);
  }
  await rejectsWith(client.crons.createForThread(crypto.randomUUID(), "agent", { schedule: "0 0 * * *" }), 404);
  const bad = await rejectsWith(client.crons.create("agent", { schedule: "not a cron" }), 422);
  assert.match(JSON.stringify(bad), /schedule/);
});

test("search, count, update and delete", async () => {
  const assistant = await client.assistants.create({ graphId: "agent", metadata: { suite: "js-crons" } });
  const aid = assistant.assistant_id;
  const threadId = await newThread();
  const a = await client.crons.create(aid, { schedule: "0 1 * * *", metadata: { n: 1 } });
  const b = await client.crons.createForThread(threadId, aid, { schedule: "0 2 * * *" });
  const c = await client.crons.create(aid, { schedule: "0 3 * * *", enabled: false, onRunCompleted: "keep" });
  assert.equal(c.enabled, false);
  assert.equal(c.on_run_completed, "keep");

  const ids = (crons) => crons.map((x) => x.cron_id);
  assert.deepEqual(ids(await client.crons.search({ assistantId: aid })), [c.cron_id, b.cron_id, a.cron_id]);
  assert.deepEqual(ids(await client.crons.search({ assistantId: aid, sortBy: "created_at", sortOrder: "asc" })), [
    a.cron_id,
    b.cron_id,
    c.cron_id,
  ]);
  assert.deepEqual(ids(await client.crons.search({ assistantId: aid, limit: 1, offset: 1 })), [b.cron_id]);
  assert.deepEqual(ids(await client.crons.search({ threadId })), [b.cron_id]);
  assert.deepEqual(ids(await client.crons.search({ assistantId: aid, enabled: false })), [c.cron_id]);
  assert.deepEqual(await client.crons.search({ assistantId: aid, select: ["cron_id", "schedule"], limit: 1 }), [
    { cron_id: c.cron_id, schedule: "0 3 * * *" },
  ]);
  assert.equal(await client.crons.count({ assistantId: aid }), 3);
  assert.equal(await client.crons.count({ threadId }), 1);

  const end = new Date(Date.now() + 30 * 86_400_000);
  const patched = await client.crons.update(a.cron_id, {
    schedule: "30 4 * * *",
    endTime: end.toISOString(),
    metadata: { extra: true },
    input: { items: ["x"] },
  });
  assert.equal(patched.schedule, "30 4 * * *");
  const next = new Date(patched.next_run_date);
  assert.deepEqual([next.getUTCHours(), next.getUTCMinutes()], [4, 30]);
  assert.deepEqual(patched.metadata, { n: 1, extra: true });
  assert.equal(new Date(patched.end_time).getTime(), end.getTime());
  assert.deepEqual(patched.payload.input, { items: ["x"] });
  assert.equal(patched.payload.config.configurable.cron_id, a.cron_id);
  assert.equal((await client.crons.update(a.cron_id, { endTime: null })).end_time, null);
  assert.equal((await client.crons.update(a.cron_id, { enabled: false })).enabled, false);
  assert.equal((await client.crons.update(c.cron_id, { onRunCompleted: "delete" })).on_run_completed, "delete");
  await rejectsWith(client.crons.update(b.cron_id, { onRunCompleted: "keep" }), 422); // thread crons have none

  for (const cron of [a, b, c]) await client.crons.delete(cron.cron_id);
  assert.deepEqual(await client.crons.search({ assistantId: aid }), []);
  assert.equal(await client.crons.count({ assistantId: aid }), 0);
  await rejectsWith(client.crons.delete(a.cron_id), 404);
  await rejectsWith(client.crons.update(a.cron_id, { schedule: "0 0 * * *" }), 404);
  await client.assistants.delete(aid);
});

test("a thread cron fires runs until it is deleted", async () => {
  const threadId = await newThread();
  const cron = await client.crons.createForThread(threadId, "agent", {
    schedule: "* * * * * */2",
    input: { items: ["tick"] },
    metadata: { who: "js-cron" },
  });
  let runs;
  try {
    runs = await until(
      () => client.runs.list(threadId, { limit: 100 }),
      (list) => list.length >= 2,
      { within: 15_000, every: 200, what: "two cron runs" },
    );
  } finally {
    await client.crons.delete(cron.cron_id);
  }
  for (const run of runs) {
    assert.deepEqual(run.kwargs.input, { items: ["tick"] });
    assert.equal(run.kwargs.config.configurable.cron_id, cron.cron_id);
    assert.equal(run.metadata.who, "js-cron");
  }
  await sleep(500); // a tick that was already being fired may still land
  const settled = (await client.runs.list(threadId, { limit: 100 })).length;
  await sleep(2500);
  assert.equal((await client.runs.list(threadId, { limit: 100 })).length, settled);
});
