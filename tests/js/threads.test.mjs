// Threads through the JS SDK: create/get/update/delete/search/count/copy, state (get, update, at a
// checkpoint, history) and the thread join stream (contract §2.1, §3.3; sdk-transcript.json).
import assert from "node:assert/strict";
import { test } from "node:test";
import { STREAM_ID, UUID, client, collect, events, newThread, rejectsWith, sleep, unique, until } from "./lib.mjs";

const THREAD_KEYS = [
  "config",
  "created_at",
  "error",
  "interrupts",
  "metadata",
  "state_updated_at",
  "status",
  "thread_id",
  "updated_at",
  "values",
];

test("create, get, update, delete", async () => {
  const tag = unique();
  const thread = await client.threads.create({ metadata: { tag, n: 1 } });
  assert.match(thread.thread_id, UUID);
  for (const key of THREAD_KEYS) assert.ok(key in thread, `${key} in ${JSON.stringify(thread)}`);
  assert.equal(thread.status, "idle");
  assert.deepEqual(thread.metadata, { tag, n: 1 });
  assert.equal(thread.values, null);
  assert.deepEqual(thread.interrupts, {});

  const got = await client.threads.get(thread.thread_id);
  assert.deepEqual(got, thread);

  const updated = await client.threads.update(thread.thread_id, { metadata: { n: 2, extra: true } });
  assert.deepEqual(updated.metadata, { tag, n: 2, extra: true }); // merged
  assert.equal(updated.created_at, thread.created_at);

  await client.threads.delete(thread.thread_id);
  const body = await rejectsWith(client.threads.get(thread.thread_id), 404);
  assert.deepEqual(body, { detail: `Thread with ID ${thread.thread_id} not found` });
  await rejectsWith(client.threads.delete(thread.thread_id), 404);
});

test("create with a chosen id, ifExists, graphId, ttl and supersteps", async () => {
  const threadId = crypto.randomUUID();
  const first = await client.threads.create({ threadId, metadata: { who: "first" }, graphId: "agent" });
  assert.equal(first.thread_id, threadId);
  assert.deepEqual(first.metadata, { who: "first", graph_id: "agent" });
  const same = await client.threads.create({ threadId, metadata: { who: "second" }, ifExists: "do_nothing" });
  assert.deepEqual(same.metadata, first.metadata);
  const conflict = await rejectsWith(client.threads.create({ threadId }), 409);
  assert.deepEqual(conflict, { detail: `Thread with ID ${threadId} already exists` });

  // ttl as a number of minutes becomes {ttl, strategy: "delete"} in the SDK
  const withTtl = await client.threads.create({ ttl: 60 });
  assert.equal(withTtl.status, "idle");
  await client.threads.update(withTtl.thread_id, { ttl: { ttl: 30, strategy: "delete" } });

  const seeded = await client.threads.create({
    graphId: "agent",
    supersteps: [{ updates: [{ values: { items: ["seed"] }, asNode: "step_a" }] }],
  });
  const state = await client.threads.getState(seeded.thread_id);
  assert.deepEqual(state.values, { items: ["seed"] });
  assert.deepEqual(state.next, ["step_b"]);
});

test("search and count by metadata, ids, status and values, sorted and paged", async () => {
  const tag = unique();
  const a = await newThread({ metadata: { tag, kind: "a" } });
  const b = await newThread({ metadata: { tag, kind: "b" } });
  await client.runs.wait(b, "agent", { input: { items: [tag] } });

  const all = await client.threads.search({ metadata: { tag }, sortBy: "created_at", sortOrder: "asc" });
  assert.deepEqual(
    all.map((t) => t.thread_id),
    [a, b],
  );
  const newest = await client.threads.search({ metadata: { tag }, limit: 1 });
  assert.deepEqual(
    newest.map((t) => t.thread_id),
    [b],
  );
  const second = await client.threads.search({ metadata: { tag }, limit: 1, offset: 1 });
  assert.deepEqual(
    second.map((t) => t.thread_id),
    [a],
  );
  const byIds = await client.threads.search({ ids: [a] });
  assert.deepEqual(
    byIds.map((t) => t.thread_id),
    [a],
  );
  const byKind = await client.threads.search({ metadata: { tag, kind: "b" } });
  assert.deepEqual(
    byKind.map((t) => t.thread_id),
    [b],
  );
  const byValues = await client.threads.search({ values: { items: [tag, "a", "b"] } });
  assert.deepEqual(
    byValues.map((t) => t.thread_id),
    [b],
  );
  const idle = await client.threads.search({ metadata: { tag }, status: "idle", select: ["thread_id", "status"] });
  assert.equal(idle.length, 2);
  assert.ok(idle.every((t) => Object.keys(t).sort().join() === "status,thread_id"), JSON.stringify(idle));

  assert.equal(await client.threads.count({ metadata: { tag } }), 2);
  assert.equal(await client.threads.count({ metadata: { tag }, status: "busy" }), 0);
  assert.equal(await client.threads.count({ values: { items: [tag, "a", "b"] } }), 1);
});

test("copy keeps the state and history under a new id", async () => {
  const threadId = await newThread({ metadata: { origin: "copy" } });
  await client.runs.wait(threadId, "agent", { input: { items: ["c"] } });
  const copy = await client.threads.copy(threadId);
  assert.notEqual(copy.thread_id, threadId);
  assert.equal(copy.metadata.origin, "copy");
  const state = await client.threads.getState(copy.thread_id);
  assert.deepEqual(state.values, { items: ["c", "a", "b"] });
  const original = await client.threads.getHistory(threadId);
  const copied = await client.threads.getHistory(copy.thread_id);
  assert.deepEqual(
    copied.map((s) => s.values),
    original.map((s) => s.values),
  );
  await rejectsWith(client.threads.copy(crypto.randomUUID()), 404);
});

test("getState, updateState, state at a checkpoint, and history", async () => {
  const threadId = await newThread();
  await client.runs.wait(threadId, "agent", { input: { items: ["s"] } });

  const state = await client.threads.getState(threadId);
  assert.deepEqual(state.values, { items: ["s", "a", "b"] });
  assert.deepEqual(state.next, []);
  assert.deepEqual(state.tasks, []);
  assert.equal(state.metadata.step, 2);
  assert.equal(state.checkpoint.thread_id, threadId);
  assert.equal(state.checkpoint.checkpoint_ns, "");
  assert.ok(state.parent_checkpoint.checkpoint_id);

  const update = await client.threads.updateState(threadId, { values: { items: ["manual"] }, asNode: "step_b" });
  assert.equal(update.checkpoint.thread_id, threadId);
  assert.equal(update.checkpoint.checkpoint_ns, "");
  assert.ok(update.checkpoint.checkpoint_id);

  const after = await client.threads.getState(threadId);
  assert.deepEqual(after.values, { items: ["s", "a", "b", "manual"] });
  assert.equal(after.checkpoint.checkpoint_id, update.checkpoint.checkpoint_id);
  assert.equal(after.metadata.source, "update");

  // by id (GET …/state/{checkpoint_id}) and by checkpoint object (POST …/state/checkpoint)
  const byId = await client.threads.getState(threadId, state.checkpoint.checkpoint_id);
  assert.deepEqual(byId.values, state.values);
  const byObject = await client.threads.getState(threadId, state.checkpoint);
  assert.deepEqual(byObject.values, state.values);

  // updating from an earlier checkpoint forks from there
  const fork = await client.threads.updateState(threadId, {
    values: { items: ["fork"] },
    checkpointId: state.checkpoint.checkpoint_id,
    asNode: "step_b",
  });
  assert.deepEqual((await client.threads.getState(threadId)).values, { items: ["s", "a", "b", "fork"] });
  assert.equal((await client.threads.getState(threadId)).checkpoint.checkpoint_id, fork.checkpoint.checkpoint_id);

  const history = await client.threads.getHistory(threadId, { limit: 3 });
  assert.equal(history.length, 3);
  assert.deepEqual(history[0].values, { items: ["s", "a", "b", "fork"] });
  const older = await client.threads.getHistory(threadId, { before: history[0].checkpoint, limit: 100 });
  assert.ok(older.every((s) => s.checkpoint.checkpoint_id !== history[0].checkpoint.checkpoint_id));
  assert.ok(older.length >= 5, `${older.length}`);
  const inputs = await client.threads.getHistory(threadId, { metadata: { source: "input" }, limit: 100 });
  assert.equal(inputs.length, 1);
  assert.equal(inputs[0].metadata.step, -1);
  assert.deepEqual(inputs[0].next, ["__start__"]);

  await rejectsWith(client.threads.getState(crypto.randomUUID()), 404);
  const fresh = await newThread();
  await rejectsWith(client.threads.updateState(fresh, { values: { items: ["x"] } }), 400);
});

test("getState with subgraphs expands the pending subgraph task's state", async () => {
  const threadId = await newThread();
  await client.runs.wait(threadId, "nested", { input: { items: ["n"] }, interruptBefore: ["child"] });
  const state = await client.threads.getState(threadId, undefined, { subgraphs: true });
  assert.deepEqual(state.values, { items: ["n"] });
  assert.deepEqual(state.next, ["child"]);
  const [task] = state.tasks;
  assert.equal(task.name, "child");
  assert.deepEqual(task.path, ["__pregel_pull", "child"]);
  assert.deepEqual(task.state.values, {});
  assert.deepEqual(task.state.next, []);
  assert.equal((await client.threads.get(threadId)).status, "interrupted");
});

test("thread joinStream replays every resumable run from '-' and follows live runs", async () => {
  const threadId = await newThread();
  const [first] = await collect(
    client.runs.stream(threadId, "agent", { input: { items: ["t"] }, streamMode: "updates", streamResumable: true }),
  );
  const controller = new AbortController();
  const seen = [];
  const done = () => seen.filter((p) => p.event === "metadata" && p.data.status === "run_done").length;
  const reading = (async () => {
    for await (const part of client.threads.joinStream(threadId, { lastEventId: "-", signal: controller.signal })) {
      seen.push(part);
      if (done() === 2) controller.abort();
    }
  })();
  await until(
    () => seen.length,
    (n) => n >= 4,
    { what: "replayed frames" },
  );
  // a second run while the stream is open: its frames follow the replayed ones
  const second = await client.runs.create(threadId, "agent", { input: { items: ["u"] }, streamMode: "updates" });
  await reading.catch((error) => {
    if (!controller.signal.aborted) throw error;
  });
  assert.deepEqual(
    seen.map((p) => [p.event, p.data]),
    [
      ["metadata", { run_id: first.data.run_id, attempt: 1 }],
      ["updates", { step_a: { items: ["a"] } }],
      ["updates", { step_b: { items: ["b"] } }],
      ["metadata", { status: "run_done", run_id: first.data.run_id }],
      ["metadata", { run_id: second.run_id, attempt: 1 }],
      ["updates", { step_a: { items: ["a"] } }],
      ["updates", { step_b: { items: ["b"] } }],
      ["metadata", { status: "run_done", run_id: second.run_id }],
    ],
  );
  assert.ok(
    seen.slice(0, 4).every((p) => STREAM_ID.test(p.id)),
    JSON.stringify(seen.map((p) => p.id)),
  );
  await rejectsWith(collect(client.threads.joinStream(crypto.randomUUID())), 404);
});

test("SDK calls the official server does not serve either: patchState is 405, a thread joinStream filter is ignored", async () => {
  const threadId = await newThread();
  await client.runs.wait(threadId, "agent", { input: { items: [] } });
  // PATCH /threads/{id}/state has no route in langgraph-api 0.16.7 (only GET and POST)
  const body = await rejectsWith(client.threads.patchState(threadId, { note: "x" }), 405);
  assert.deepEqual(body, { detail: "Method Not Allowed" });

  // threads.joinStream sends ?stream_mode=, the server reads stream_modes (contract §2.4): the
  // filter is ignored and the run's own frames come through.
  const controller = new AbortController();
  const seen = [];
  const reading = (async () => {
    for await (const part of client.threads.joinStream(threadId, { streamMode: "lifecycle", signal: controller.signal })) {
      seen.push(part);
      if (part.data?.status === "run_done") controller.abort();
    }
  })();
  await sleep(200); // the stream is open before the run starts
  await client.runs.create(threadId, "agent", { input: { items: ["j"] }, streamMode: "updates" });
  await reading.catch((error) => {
    if (!controller.signal.aborted) throw error;
  });
  assert.deepEqual(events(seen), ["metadata", "updates", "updates", "metadata"]);
});
