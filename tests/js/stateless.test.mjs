// Stateless runs through the JS SDK (thread id null): wait, stream, background create and batch;
// the temporary thread goes away with the run unless onCompletion is "keep" (contract §2.3).
import assert from "node:assert/strict";
import { test } from "node:test";
import { AGENT_ASSISTANT_ID, client, collect, events, rejectsWith, until } from "./lib.mjs";

const threadGone = (threadId) =>
  until(
    () => client.threads.get(threadId).then(() => 200, (error) => error.status),
    (status) => status === 404,
    { what: `temporary thread ${threadId} deleted` },
  );

test("stateless wait returns the output; its temporary thread is deleted unless kept", async () => {
  const created = [];
  const out = await client.runs.wait(null, "agent", { input: { items: ["sl"] }, onRunCreated: (m) => created.push(m) });
  assert.deepEqual(out, { items: ["sl", "a", "b"] });
  assert.equal(created.length, 1);
  assert.ok(created[0].thread_id, "stateless wait names its temporary thread in Content-Location");
  await rejectsWith(client.threads.get(created[0].thread_id), 404);

  const kept = [];
  const keptOut = await client.runs.wait(null, "agent", {
    input: { items: ["k"] },
    onCompletion: "keep",
    onRunCreated: (m) => kept.push(m),
  });
  assert.deepEqual(keptOut, { items: ["k", "a", "b"] });
  const thread = await client.threads.get(kept[0].thread_id);
  assert.deepEqual(thread.values, { items: ["k", "a", "b"] });
  const [run] = await client.runs.list(kept[0].thread_id);
  assert.equal(run.run_id, kept[0].run_id);
  assert.equal(run.kwargs.temporary, true);

  const failed = await client.runs.wait(null, "failing", { input: { items: ["f"] }, raiseError: false });
  assert.deepEqual(failed, { __error__: { error: "ValueError", message: "boom: f" } });
});

test("stateless stream sends the run's events; onCompletion keep leaves the thread", async () => {
  const created = [];
  const parts = await collect(
    client.runs.stream(null, "agent", { input: { items: ["s"] }, streamMode: "updates", onRunCreated: (m) => created.push(m) }),
  );
  assert.deepEqual(
    parts.map((p) => [p.event, p.data]),
    [
      ["metadata", { run_id: parts[0].data.run_id, attempt: 1 }],
      ["updates", { step_a: { items: ["a"] } }],
      ["updates", { step_b: { items: ["b"] } }],
    ],
  );
  // Content-Location of a stateless stream is /runs/{run_id}: no thread id to report
  assert.deepEqual(created, [{ run_id: parts[0].data.run_id, thread_id: undefined }]);

  const tag = crypto.randomUUID();
  const assistant = await client.assistants.create({ graphId: "agent", metadata: { tag } });
  const keep = await collect(
    client.runs.stream(null, assistant.assistant_id, { input: { items: ["k"] }, streamMode: "values", onCompletion: "keep" }),
  );
  assert.deepEqual(events(keep), ["metadata", "values", "values", "values"]);
  const [thread] = await client.threads.search({ metadata: { assistant_id: assistant.assistant_id } });
  assert.deepEqual(thread.values, { items: ["k", "a", "b"] });
  const [run] = await client.runs.list(thread.thread_id);
  assert.equal(run.run_id, keep[0].data.run_id);
  await client.assistants.delete(assistant.assistant_id);
});

test("stateless background create runs on a temporary thread that goes away", async () => {
  const run = await client.runs.create(null, "agent", { input: { items: ["bg"], delay: 0.2 } });
  assert.equal(run.kwargs.temporary, true);
  assert.equal(run.assistant_id, AGENT_ASSISTANT_ID);
  assert.ok(["pending", "running"].includes(run.status), run.status);
  await threadGone(run.thread_id);
});

test("stateless resume without a thread is a 400 on every stateless path", async () => {
  for (const call of [
    () => client.runs.wait(null, "hitl", { command: { resume: "yes" } }),
    () => client.runs.create(null, "hitl", { command: { resume: "yes" } }),
    () => collect(client.runs.stream(null, "hitl", { command: { resume: "yes" } })),
  ]) {
    const body = await rejectsWith(call(), 400);
    assert.deepEqual(body, { detail: "You must provide a thread_id when resuming." });
  }
});

test("createBatch starts one background run per payload, honouring its camelCase options", async () => {
  // The SDK sends each payload as written (assistantId, onCompletion, ...) beside assistant_id.
  const runs = await client.runs.createBatch([
    { assistantId: "agent", input: { items: ["0"] } },
    { assistantId: "agent", input: { items: ["1"] }, onCompletion: "keep" },
  ]);
  assert.equal(runs.length, 2);
  assert.equal(new Set(runs.map((r) => r.thread_id)).size, 2);
  for (const [i, run] of runs.entries()) {
    assert.deepEqual(run.kwargs.input, { items: [String(i)] });
    assert.equal(run.kwargs.temporary, true);
  }
  await threadGone(runs[0].thread_id);
  const kept = await until(
    () => client.threads.get(runs[1].thread_id),
    (thread) => thread.status === "idle" && thread.values?.items?.length === 3,
    { what: "the kept thread of the batch's second run" },
  );
  assert.deepEqual(kept.values.items, ["1", "a", "b"]);
});
