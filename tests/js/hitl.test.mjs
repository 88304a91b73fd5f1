// Human in the loop through the JS SDK: interrupt() in a node, the interrupt in wait/stream/join
// bodies and in thread state, resuming with a Command (sdk-transcript.json "hitl ...",
// http/hitl_values_only.txt).
import assert from "node:assert/strict";
import { test } from "node:test";
import { client, collect, events, newThread, rejectsWith } from "./lib.mjs";

const INTERRUPT_ID = /^[0-9a-f]{32}$/;

function checkInterrupt(item, items) {
  assert.deepEqual(Object.keys(item).sort(), ["id", "response_schema", "value"]);
  assert.deepEqual(item.value, { question: "approve?", items });
  assert.equal(item.response_schema, null);
  assert.match(item.id, INTERRUPT_ID);
  return item.id;
}

test("wait stops at the interrupt; thread, state and join show it; Command resume finishes", async () => {
  const threadId = await newThread();
  const created = [];
  const out = await client.runs.wait(threadId, "hitl", {
    input: { items: ["q"] },
    onRunCreated: (meta) => created.push(meta),
  });
  assert.deepEqual(Object.keys(out).sort(), ["__interrupt__", "items"]);
  assert.deepEqual(out.items, ["q"]);
  const interruptId = checkInterrupt(out.__interrupt__[0], ["q"]);

  const thread = await client.threads.get(threadId);
  assert.equal(thread.status, "interrupted");
  assert.equal(thread.error, null);
  const [[taskId, pending]] = Object.entries(thread.interrupts);
  assert.deepEqual(pending, [{ id: interruptId, value: { question: "approve?", items: ["q"] } }]);

  const state = await client.threads.getState(threadId);
  assert.deepEqual(state.next, ["ask"]);
  assert.equal(state.tasks[0].id, taskId);
  assert.deepEqual(state.tasks[0].interrupts, pending);
  assert.deepEqual(state.interrupts, pending);

  const [run] = await client.runs.list(threadId);
  assert.equal(run.run_id, created[0].run_id);
  assert.equal(run.status, "success"); // it paused, it did not fail
  assert.deepEqual(await client.runs.join(threadId, run.run_id), out);

  const parts = await collect(
    client.runs.stream(threadId, "hitl", { command: { resume: "yes" }, streamMode: ["values", "updates"] }),
  );
  assert.deepEqual(
    parts.slice(1).map((p) => [p.event, p.data]),
    [
      ["values", { items: ["q"] }],
      ["updates", { ask: { items: ["answer:yes"] } }],
      ["values", { items: ["q", "answer:yes"] }],
      ["updates", { finish: { items: ["done"] } }],
      ["values", { items: ["q", "answer:yes", "done"] }],
    ],
  );
  const after = await client.threads.get(threadId);
  assert.equal(after.status, "idle");
  assert.deepEqual(after.interrupts, {});
  assert.deepEqual(after.values, { items: ["q", "answer:yes", "done"] });
});

test("a stream that hits an interrupt carries it in updates and in the last values", async () => {
  const threadId = await newThread();
  const parts = await collect(client.runs.stream(threadId, "hitl", { input: { items: [] }, streamMode: ["values", "updates"] }));
  assert.deepEqual(events(parts), ["metadata", "values", "updates", "values"]);
  assert.deepEqual(Object.keys(parts[2].data), ["__interrupt__"]);
  checkInterrupt(parts[2].data.__interrupt__[0], []);
  assert.deepEqual(parts[3].data, { items: [], __interrupt__: parts[2].data.__interrupt__ });

  const other = await newThread();
  const valuesOnly = await collect(client.runs.stream(other, "hitl", { input: { items: ["v"] }, streamMode: "values" }));
  assert.deepEqual(events(valuesOnly), ["metadata", "values", "values"]);
  checkInterrupt(valuesOnly[2].data.__interrupt__[0], ["v"]);
});

test("Command resume values reach the node; resume with update; a new input interrupts again", async () => {
  const threadId = await newThread();
  await client.runs.wait(threadId, "hitl", { input: { items: [] } });
  const out = await client.runs.wait(threadId, "hitl", { command: { resume: { approved: false } } });
  assert.deepEqual(out, { items: ["answer:{'approved': False}", "done"] });

  const again = await client.runs.wait(threadId, "hitl", { input: { items: ["again"] } });
  checkInterrupt(again.__interrupt__[0], ["answer:{'approved': False}", "done", "again"]);

  // resuming by interrupt id, with a state update in the same Command
  const id = again.__interrupt__[0].id;
  const resumed = await client.runs.wait(threadId, "hitl", {
    command: { resume: { [id]: "by-id" }, update: { items: ["extra"] } },
  });
  assert.deepEqual(resumed.items.slice(-3), ["extra", "answer:by-id", "done"]);
});

test("a stateless Command resume is refused: there is no thread to resume", async () => {
  const body = await rejectsWith(client.runs.wait(null, "hitl", { command: { resume: "x" } }), 400);
  assert.deepEqual(body, { detail: "You must provide a thread_id when resuming." });
});
