// Thread runs through the JS SDK: create/join/wait/get/list/delete/cancel, multitask strategies,
// if_not_exists, after_seconds, command goto/update, errors (contract §2.1-2.3, §3.4).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AGENT_ASSISTANT_ID,
  THREAD_BUSY,
  UUID,
  client,
  collect,
  newThread,
  raw,
  rejectsWith,
  runReaches,
  until,
} from "./lib.mjs";

const RUN_KEYS = [
  "assistant_id",
  "created_at",
  "kwargs",
  "langsmith_session_name",
  "metadata",
  "multitask_strategy",
  "run_id",
  "status",
  "thread_id",
  "updated_at",
];

test("create reports the run through onRunCreated, join returns the final values", async () => {
  const threadId = await newThread({ metadata: { purpose: "js-runs" } });
  const created = [];
  const run = await client.runs.create(threadId, "agent", {
    input: { items: ["x"] },
    metadata: { origin: "js" },
    onRunCreated: (meta) => created.push(meta),
  });
  for (const key of RUN_KEYS) assert.ok(key in run, `${key} in ${JSON.stringify(run)}`);
  assert.match(run.run_id, UUID);
  assert.equal(run.thread_id, threadId);
  assert.equal(run.assistant_id, AGENT_ASSISTANT_ID); // a graph id maps to its system assistant
  assert.ok(["pending", "running"].includes(run.status), run.status);
  assert.equal(run.multitask_strategy, "enqueue");
  assert.equal(run.metadata.origin, "js");
  assert.deepEqual(run.kwargs.input, { items: ["x"] });
  assert.deepEqual(created, [{ run_id: run.run_id, thread_id: threadId }]);

  assert.deepEqual(await client.runs.join(threadId, run.run_id), { items: ["x", "a", "b"] });
  const done = await client.runs.get(threadId, run.run_id);
  assert.equal(done.status, "success");
  // joining a finished run gives the thread's values again
  assert.deepEqual(await client.runs.join(threadId, run.run_id), { items: ["x", "a", "b"] });

  const thread = await client.threads.get(threadId);
  assert.equal(thread.status, "idle");
  assert.deepEqual(thread.values, { items: ["x", "a", "b"] });
  assert.equal(thread.metadata.graph_id, "agent");
  assert.equal(thread.metadata.assistant_id, AGENT_ASSISTANT_ID);
  assert.equal(thread.metadata.purpose, "js-runs");
});

test("wait returns the output and names the run", async () => {
  const threadId = await newThread();
  const created = [];
  const out = await client.runs.wait(threadId, "agent", {
    input: { items: ["w"] },
    onRunCreated: (meta) => created.push(meta),
  });
  assert.deepEqual(out, { items: ["w", "a", "b"] });
  assert.equal(created.length, 1);
  assert.equal(created[0].thread_id, threadId);
  assert.equal((await client.runs.get(threadId, created[0].run_id)).status, "success");
});

test("wait on a failing graph raises unless raiseError is false; the run and thread record the error", async () => {
  const threadId = await newThread();
  await assert.rejects(client.runs.wait(threadId, "failing", { input: { items: ["f"] } }), {
    message: "ValueError: boom: f",
  });
  const out = await client.runs.wait(threadId, "failing", { input: { items: ["g"] }, raiseError: false });
  assert.deepEqual(out, { __error__: { error: "ValueError", message: "boom: f,g" } });
  const runs = await client.runs.list(threadId);
  assert.deepEqual(
    runs.map((r) => r.status),
    ["error", "error"],
  );
  const thread = await client.threads.get(threadId);
  assert.equal(thread.status, "error");
  assert.deepEqual(thread.error, { error: "ValueError", message: "boom: f,g" });
});

test("list is newest first with limit, offset and status; get and delete", async () => {
  const threadId = await newThread();
  const ids = [];
  for (const item of ["1", "2", "3"]) {
    const run = await client.runs.create(threadId, "agent", { input: { items: [item] } });
    await client.runs.join(threadId, run.run_id);
    ids.push(run.run_id);
  }
  assert.deepEqual(
    (await client.runs.list(threadId)).map((r) => r.run_id),
    [...ids].reverse(),
  );
  assert.deepEqual(
    (await client.runs.list(threadId, { limit: 1, offset: 1 })).map((r) => r.run_id),
    [ids[1]],
  );
  assert.equal((await client.runs.list(threadId, { status: "success" })).length, 3);
  assert.equal((await client.runs.list(threadId, { status: "pending" })).length, 0);

  const got = await client.runs.get(threadId, ids[0]);
  assert.equal(got.run_id, ids[0]);
  assert.deepEqual(Object.keys(got).sort(), [...RUN_KEYS].sort());

  await client.runs.delete(threadId, ids[0]);
  await rejectsWith(client.runs.get(threadId, ids[0]), 404);
  await rejectsWith(client.runs.delete(threadId, ids[0]), 404);
  assert.equal((await client.runs.list(threadId)).length, 2);
  await rejectsWith(client.runs.list(crypto.randomUUID()), 404);
});

test("list with select: the JS SDK sends one JSON array, which the server refuses as the official one does", async () => {
  const threadId = await newThread();
  await client.runs.wait(threadId, "agent", { input: { items: [] } });
  // The JS SDK sends ?select=["run_id","status"] (one value); the official server reads
  // query_params.getlist("select") and answers 422 too. Repeated params (Python SDK) work.
  await rejectsWith(client.runs.list(threadId, { select: ["run_id", "status"] }), 422);
  const response = await raw(`/threads/${threadId}/runs?select=run_id&select=status`);
  assert.equal(response.status, 200);
  assert.deepEqual(Object.keys(response.body[0]).sort(), ["run_id", "status"]);
});

test("cancel: interrupt without waiting, with waiting, and rollback", async () => {
  const threadId = await newThread();
  const slow = { items: ["c"], delay: 5 };
  const first = await client.runs.create(threadId, "agent", { input: slow });
  await runReaches(threadId, first.run_id, ["running"]);
  assert.equal(await client.runs.cancel(threadId, first.run_id), undefined); // 202, no body
  await runReaches(threadId, first.run_id, ["interrupted"]);
  const thread = await until(
    () => client.threads.get(threadId),
    (t) => t.status !== "busy",
    { what: "thread settles" },
  );
  assert.equal(thread.status, "interrupted");

  const second = await client.runs.create(threadId, "agent", { input: slow });
  await runReaches(threadId, second.run_id, ["running"]);
  await client.runs.cancel(threadId, second.run_id, true);
  assert.equal((await client.runs.get(threadId, second.run_id)).status, "interrupted");

  const third = await client.runs.create(threadId, "agent", { input: slow });
  await runReaches(threadId, third.run_id, ["running"]);
  await client.runs.cancel(threadId, third.run_id, true, "rollback");
  await rejectsWith(client.runs.get(threadId, third.run_id), 404); // rollback deletes the run

  await rejectsWith(client.runs.cancel(threadId, crypto.randomUUID()), 404);
});

test("multitask reject, enqueue, interrupt and rollback", async () => {
  const slow = { items: ["m"], delay: 1 };

  const rejectThread = await newThread();
  const busy = await client.runs.create(rejectThread, "agent", { input: slow });
  await runReaches(rejectThread, busy.run_id, ["running"]);
  const body = await rejectsWith(
    client.runs.create(rejectThread, "agent", { input: { items: [] }, multitaskStrategy: "reject" }),
    409,
  );
  assert.deepEqual(body, { detail: THREAD_BUSY });
  await client.runs.cancel(rejectThread, busy.run_id, true);

  const enqueueThread = await newThread();
  const a = await client.runs.create(enqueueThread, "agent", { input: { items: ["1"], delay: 1 } });
  const b = await client.runs.create(enqueueThread, "agent", {
    input: { items: ["2"] },
    multitaskStrategy: "enqueue",
  });
  assert.equal(b.status, "pending");
  assert.deepEqual(await client.runs.join(enqueueThread, b.run_id), { items: ["1", "a", "b", "2", "a", "b"], delay: 1 });
  assert.equal((await client.runs.get(enqueueThread, a.run_id)).status, "success");

  const interruptThread = await newThread();
  const old = await client.runs.create(interruptThread, "agent", { input: slow });
  await runReaches(interruptThread, old.run_id, ["running"]);
  const replacing = await client.runs.create(interruptThread, "agent", {
    input: { items: ["new"] },
    multitaskStrategy: "interrupt",
  });
  await client.runs.join(interruptThread, replacing.run_id);
  assert.equal((await client.runs.get(interruptThread, old.run_id)).status, "interrupted");
  assert.equal((await client.runs.get(interruptThread, replacing.run_id)).status, "success");

  const rollbackThread = await newThread();
  const gone = await client.runs.create(rollbackThread, "agent", { input: slow });
  await runReaches(rollbackThread, gone.run_id, ["running"]);
  const winner = await client.runs.create(rollbackThread, "agent", {
    input: { items: ["only"] },
    multitaskStrategy: "rollback",
  });
  assert.deepEqual(await client.runs.join(rollbackThread, winner.run_id), { items: ["only", "a", "b"] });
  await until(
    () => client.runs.get(rollbackThread, gone.run_id).then(() => "present", (e) => e.status),
    (status) => status === 404,
    { what: "rolled back run deleted" },
  );
  assert.deepEqual(
    (await client.runs.list(rollbackThread)).map((r) => r.run_id),
    [winner.run_id],
  );
});

test("ifNotExists create makes the thread, the default rejects a missing one", async () => {
  const threadId = crypto.randomUUID();
  const body = await rejectsWith(client.runs.wait(threadId, "agent", { input: { items: [] } }), 404);
  assert.deepEqual(body, { detail: "Thread or assistant not found." });
  const out = await client.runs.wait(threadId, "agent", { input: { items: ["n"] }, ifNotExists: "create" });
  assert.deepEqual(out, { items: ["n", "a", "b"] });
  assert.equal((await client.threads.get(threadId)).thread_id, threadId);
  // an unknown graph id is a 422 naming the registered graphs (captures http/err_422_bad_assistant.txt)
  const bad = await rejectsWith(client.runs.create(await newThread(), "no-such-graph", { input: {} }), 422);
  assert.match(bad.detail, /^Invalid assistant: 'no-such-graph'/);
  await rejectsWith(client.runs.create(await newThread(), crypto.randomUUID(), { input: {} }), 404);
});

test("afterSeconds delays the start", async () => {
  const threadId = await newThread();
  const run = await client.runs.create(threadId, "agent", { input: { items: [] }, afterSeconds: 1 });
  assert.equal(run.status, "pending");
  const started = Date.now();
  await client.runs.join(threadId, run.run_id);
  assert.ok(Date.now() - started >= 500, `${Date.now() - started} ms`);
  assert.equal((await client.runs.get(threadId, run.run_id)).status, "success");
});

test("command update and goto, config and context reach the graph", async () => {
  const threadId = await newThread();
  await client.runs.wait(threadId, "agent", { input: { items: ["x"] } });
  const out = await client.runs.wait(threadId, "agent", { command: { update: { items: ["u"] }, goto: "step_b" } });
  assert.deepEqual(out, { items: ["x", "a", "b", "u", "b"] });

  const echoThread = await newThread();
  const seen = await client.runs.wait(echoThread, "config_echo", {
    input: {},
    config: { tags: ["js-tag"], configurable: { user_setting: "on" } },
    metadata: { purpose: "checking" },
  });
  assert.equal(seen.seen.configurable.user_setting, "on");
  assert.equal(seen.seen.configurable.thread_id, echoThread);
  assert.equal(seen.seen.configurable.graph_id, "config_echo");
  assert.ok(seen.seen.tags.includes("js-tag"));
  assert.equal(seen.seen.metadata.purpose, "checking");

  const withContext = await client.runs.wait(echoThread, "config_echo", {
    input: {},
    context: { model: "m1", temperature: 0.5 },
  });
  assert.deepEqual(withContext.seen.context, { model: "m1", temperature: 0.5 });
});

test("a run can start from an earlier checkpoint", async () => {
  const threadId = await newThread();
  await client.runs.wait(threadId, "agent", { input: { items: ["p"] } });
  const history = await client.threads.getHistory(threadId, { limit: 100 });
  const afterA = history.find((s) => s.next.length === 1 && s.next[0] === "step_b");
  const out = await client.runs.wait(threadId, "agent", { input: null, checkpointId: afterA.checkpoint.checkpoint_id });
  assert.deepEqual(out, { items: ["p", "a", "b"] });
  const again = await client.runs.wait(threadId, "agent", { input: null, checkpoint: afterA.checkpoint });
  assert.deepEqual(again, { items: ["p", "a", "b"] });
});

test("interruptBefore and interruptAfter pause the run; a null input continues", async () => {
  for (const payload of [{ interruptBefore: ["step_b"] }, { interruptAfter: ["step_a"] }]) {
    const threadId = await newThread();
    const out = await client.runs.wait(threadId, "agent", { input: { items: ["s"] }, ...payload });
    assert.deepEqual(out, { items: ["s", "a"] });
    assert.equal((await client.threads.get(threadId)).status, "interrupted");
    assert.deepEqual((await client.threads.getState(threadId)).next, ["step_b"]);
    assert.deepEqual(await client.runs.wait(threadId, "agent", { input: null }), { items: ["s", "a", "b"] });
    assert.equal((await client.threads.get(threadId)).status, "idle");
  }
});

test("durability exit writes only the final checkpoint", async () => {
  const threadId = await newThread();
  const parts = await collect(
    client.runs.stream(threadId, "agent", { input: { items: ["d"] }, durability: "exit", streamMode: "updates" }),
  );
  const runId = parts[0].data.run_id;
  const history = await client.threads.getHistory(threadId, { limit: 100 });
  const ofRun = history.filter((s) => s.metadata?.run_id === runId);
  assert.equal(ofRun.length, 1);
  assert.deepEqual(ofRun[0].values, { items: ["d", "a", "b"] });
});

test("fields that need LangSmith are refused by name (a LangOpen departure: the official server accepts them)", async () => {
  const threadId = await newThread();
  const tracer = await rejectsWith(
    client.runs.create(threadId, "agent", { input: {}, _langsmithTracer: { projectName: "p" } }),
    422,
  );
  assert.match(tracer.detail, /^langsmith_tracer: /);
  const feedback = await rejectsWith(
    collect(client.runs.stream(threadId, "agent", { input: {}, feedbackKeys: ["score"] })),
    422,
  );
  assert.match(feedback.detail, /^feedback_keys: /);
  assert.deepEqual(await client.runs.list(threadId), []); // nothing was started
});
