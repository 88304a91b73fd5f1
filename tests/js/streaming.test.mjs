// Streaming through the JS SDK: every stream mode with the official event names and payloads,
// subgraph namespaces, the error event, resumable streams joined with lastEventId, the SDK's own
// reconnect through `Location` when a stream breaks, and joinStream filters (contract §3).
import assert from "node:assert/strict";
import { test } from "node:test";
import { STREAM_ID, client, collect, events, newClient, newThread, rejectsWith, runReaches } from "./lib.mjs";

async function stream(graph, input, options = {}) {
  const threadId = await newThread();
  const parts = await collect(client.runs.stream(threadId, graph, { input, ...options }));
  assert.equal(parts[0].event, "metadata");
  assert.deepEqual(Object.keys(parts[0].data).sort(), ["attempt", "run_id"]);
  assert.equal(parts[0].data.attempt, 1);
  return { threadId, runId: parts[0].data.run_id, parts };
}

// Event names the official server sent for graph `agent` (sse-sample.txt, sdk-transcript.json).
const AGENT_SEQUENCES = [
  ["values", ["metadata", "values", "values", "values"]],
  ["updates", ["metadata", "updates", "updates"]],
  ["custom", ["metadata", "custom"]],
  [
    ["custom", "tasks"],
    ["metadata", "tasks", "custom", "tasks", "tasks", "tasks"],
  ],
  [
    ["values", "updates", "custom"],
    ["metadata", "values", "custom", "updates", "values", "updates", "values"],
  ],
  ["checkpoints", ["metadata", "checkpoints", "checkpoints", "checkpoints", "checkpoints"]],
  ["debug", ["metadata", ...Array(8).fill("debug")]],
  ["events", ["metadata", ...Array(8).fill("events")]],
  ["messages-tuple", ["metadata"]], // no messages in this graph
];

for (const [mode, names] of AGENT_SEQUENCES) {
  test(`stream mode ${JSON.stringify(mode)} sends the official event names, without ids`, async () => {
    const { parts } = await stream("agent", { items: ["x"] }, { streamMode: mode });
    assert.deepEqual(events(parts), names);
    assert.ok(parts.every((p) => p.id === undefined), "a non-resumable stream has no ids");
  });
}

test("v2-only stream modes the SDK types allow are a 422, as on the official server", async () => {
  const threadId = await newThread();
  for (const mode of ["tools", "lifecycle"]) {
    const body = await rejectsWith(collect(client.runs.stream(threadId, "agent", { input: {}, streamMode: [mode] })), 422);
    assert.match(body.detail, /stream_mode/);
  }
});

test("values, updates and custom payloads", async () => {
  const { parts } = await stream("agent", { items: ["x"] }, { streamMode: ["values", "updates", "custom"] });
  const by = (name) => parts.filter((p) => p.event === name).map((p) => p.data);
  assert.deepEqual(by("values"), [{ items: ["x"] }, { items: ["x", "a"] }, { items: ["x", "a", "b"] }]);
  assert.deepEqual(by("updates"), [{ step_a: { items: ["a"] } }, { step_b: { items: ["b"] } }]);
  assert.deepEqual(by("custom"), [{ progress: "a-start" }]);
});

test("tasks, checkpoints and debug payloads", async () => {
  const tasks = await stream("agent", { items: ["x"] }, { streamMode: "tasks" });
  const [startA, resultA, startB, resultB] = tasks.parts.slice(1).map((p) => p.data);
  assert.deepEqual(Object.keys(startA).sort(), ["id", "input", "metadata", "name", "triggers"]);
  assert.equal(startA.name, "step_a");
  assert.deepEqual(startA.input, { items: ["x"] });
  assert.deepEqual(startA.triggers, ["branch:to:step_a"]);
  assert.equal(startA.metadata.run_id, tasks.runId);
  assert.deepEqual(resultA, { id: startA.id, name: "step_a", error: null, result: { items: ["a"] }, interrupts: [] });
  assert.equal(startB.name, "step_b");
  assert.equal(resultB.id, startB.id);

  const checkpoints = (await stream("agent", { items: ["x"] }, { streamMode: "checkpoints" })).parts.slice(1);
  assert.deepEqual(
    checkpoints.map((p) => [p.data.metadata.source, p.data.metadata.step]),
    [
      ["input", -1],
      ["loop", 0],
      ["loop", 1],
      ["loop", 2],
    ],
  );
  assert.deepEqual(
    checkpoints.map((p) => p.data.next),
    [["__start__"], ["step_a"], ["step_b"], []],
  );
  assert.equal(
    checkpoints[1].data.parent_config.configurable.checkpoint_id,
    checkpoints[0].data.config.configurable.checkpoint_id,
  );

  const debug = (await stream("agent", { items: ["x"] }, { streamMode: "debug" })).parts.slice(1);
  assert.deepEqual(
    debug.map((p) => p.data.type),
    ["checkpoint", "checkpoint", "task", "task_result", "checkpoint", "task", "task_result", "checkpoint"],
  );
  assert.ok(debug.every((p) => Object.keys(p.data).sort().join() === "payload,step,timestamp,type"));
  assert.deepEqual(debug.at(-1).data.payload.values, { items: ["x", "a", "b"] });
});

test("events mode sends LangChain callback events", async () => {
  const { parts } = await stream("agent", { items: ["x"] }, { streamMode: "events" });
  const data = parts.slice(1).map((p) => p.data);
  assert.deepEqual(
    data.map((e) => e.event),
    [
      "on_chain_start",
      "on_chain_start",
      "on_chain_stream",
      "on_chain_end",
      "on_chain_start",
      "on_chain_stream",
      "on_chain_end",
      "on_chain_end",
    ],
  );
  assert.deepEqual(
    data.slice(1, 7).map((e) => e.name),
    ["step_a", "step_a", "step_a", "step_b", "step_b", "step_b"],
  );
  assert.deepEqual(data.at(-1).data.output, { items: ["x", "a", "b"] });
});

test("messages-tuple arrives as `messages` events of [message, metadata]", async () => {
  const human = { messages: [{ role: "user", content: "hi" }] };
  const { threadId, runId, parts } = await stream("echo", human, { streamMode: "messages-tuple" });
  assert.deepEqual(events(parts), ["metadata", "messages"]);
  const [message, metadata] = parts[1].data;
  assert.equal(message.type, "ai");
  assert.equal(message.content, "echo: hi");
  assert.equal(metadata.run_id, runId);
  assert.equal(metadata.thread_id, threadId);
  assert.equal(metadata.graph_id, "echo");
  assert.equal(metadata.langgraph_node, "echo");

  const mixed = await stream("echo", human, { streamMode: ["messages-tuple", "values"] });
  assert.deepEqual(events(mixed.parts), ["metadata", "values", "messages", "values"]);
  assert.equal(mixed.parts[3].data.messages.at(-1).id, mixed.parts[2].data[0].id);

  const legacy = await stream("echo", human, { streamMode: "messages" });
  assert.deepEqual(events(legacy.parts), ["metadata", "messages/metadata", "messages/complete"]);
  assert.equal(legacy.parts[2].data[0].content, "echo: hi");
});

test("streamSubgraphs names events `mode|namespace`", async () => {
  const { parts } = await stream("nested", { items: ["n"] }, { streamMode: ["updates", "custom"], streamSubgraphs: true });
  const names = events(parts);
  const match = /^custom\|(child:[0-9a-f-]{36})$/.exec(names[1]);
  assert.ok(match, JSON.stringify(names));
  const ns = match[1];
  assert.deepEqual(names, ["metadata", `custom|${ns}`, `updates|${ns}`, `updates|${ns}`, "updates"]);
  assert.deepEqual(
    parts.slice(1).map((p) => p.data),
    [{ progress: "a-start" }, { step_a: { items: ["a"] } }, { step_b: { items: ["b"] } }, { child: { items: ["n", "a", "b"] } }],
  );
  const flat = await stream("nested", { items: ["n"] }, { streamMode: "updates" });
  assert.deepEqual(events(flat.parts), ["metadata", "updates"]);
});

test("a failing graph ends its stream with an error event", async () => {
  const { threadId, runId, parts } = await stream("failing", { items: ["e"] }, { streamMode: "values" });
  assert.deepEqual(events(parts), ["metadata", "values", "error"]);
  assert.deepEqual(parts.at(-1).data, { error: "ValueError", message: "boom: e" });
  assert.equal((await client.runs.get(threadId, runId)).status, "error");
});

test("a resumable stream has increasing Redis stream ids; joinStream resumes after lastEventId", async () => {
  const { threadId, runId, parts } = await stream(
    "agent",
    { items: ["r"] },
    { streamMode: ["values", "updates"], streamResumable: true },
  );
  assert.deepEqual(events(parts), ["metadata", "values", "updates", "values", "updates", "values"]);
  const ids = parts.map((p) => p.id);
  assert.ok(ids.every((id) => STREAM_ID.test(id)), JSON.stringify(ids));
  const keys = ids.map((id) => id.split("-").map(BigInt));
  for (let i = 1; i < keys.length; i++) {
    assert.ok(keys[i][0] > keys[i - 1][0] || (keys[i][0] === keys[i - 1][0] && keys[i][1] > keys[i - 1][1]), ids.join());
  }

  const replay = await collect(client.runs.joinStream(threadId, runId, { lastEventId: "-1" }));
  assert.deepEqual(
    replay.map((p) => [p.event, p.data, p.id]),
    parts.map((p) => [p.event, p.data, p.id]),
  );
  const rest = await collect(client.runs.joinStream(threadId, runId, { lastEventId: parts[1].id }));
  assert.deepEqual(
    rest.map((p) => p.id),
    ids.slice(2),
  );
  // without an id, a finished run's join stream ends at once
  assert.deepEqual(await collect(client.runs.joinStream(threadId, runId)), []);

  // the SDK sends a stream_mode list as one JSON array: both modes are kept
  const filtered = await collect(client.runs.joinStream(threadId, runId, { lastEventId: "-1", streamMode: ["updates"] }));
  assert.deepEqual(events(filtered), ["updates", "updates"]);
  const two = await collect(
    client.runs.joinStream(threadId, runId, { lastEventId: "-1", streamMode: ["updates", "values"] }),
  );
  assert.deepEqual(events(two), ["values", "updates", "values", "updates", "values"]);
});

test("joinStream follows a live run from the point it joins", async () => {
  const threadId = await newThread();
  const run = await client.runs.create(threadId, "agent", {
    input: { items: ["l"], delay: 0.5 },
    streamMode: ["updates"],
    streamResumable: true,
  });
  await runReaches(threadId, run.run_id, ["running"]);
  const live = await collect(client.runs.joinStream(threadId, run.run_id, { lastEventId: "-1" }));
  assert.deepEqual(
    live.map((p) => [p.event, p.data]),
    [
      ["metadata", { run_id: run.run_id, attempt: 1 }],
      ["updates", { step_a: { items: ["a"] } }],
      ["updates", { step_b: { items: ["b"] } }],
    ],
  );
  assert.equal((await client.runs.get(threadId, run.run_id)).status, "success");
});

test("joinStream with cancelOnDisconnect cancels the run when the joiner leaves", async () => {
  const threadId = await newThread();
  const run = await client.runs.create(threadId, "agent", { input: { items: ["j"], delay: 2 }, streamMode: "values" });
  await runReaches(threadId, run.run_id, ["running"]);
  const controller = new AbortController();
  try {
    for await (const part of client.runs.joinStream(threadId, run.run_id, {
      cancelOnDisconnect: true,
      signal: controller.signal,
    })) {
      assert.ok(part);
      controller.abort();
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  // the abort may come before any event: leaving is what counts
  controller.abort();
  assert.equal((await runReaches(threadId, run.run_id)).status, "interrupted");
});

/** A fetch that breaks the first SSE body after `frames` frames, as a dropped connection would. */
function breakingFetch(frames) {
  let broken = false;
  const requests = [];
  const impl = async (url, init) => {
    requests.push({ url: String(url), method: init?.method ?? "GET", lastEventId: new Headers(init?.headers).get("last-event-id") });
    const response = await fetch(url, init);
    if (broken || !response.headers.get("content-type")?.startsWith("text/event-stream")) return response;
    broken = true;
    // hold the bytes back until `frames` whole frames came, pass exactly those, then fail the body
    let text = "";
    const decoder = new TextDecoder();
    const cut = new TransformStream({
      transform(chunk, controller) {
        text += decoder.decode(chunk, { stream: true });
        let end = 0;
        for (let count = 0; count < frames; count++) {
          const at = text.indexOf("\r\n\r\n", end);
          if (at < 0) return;
          end = at + 4;
        }
        controller.enqueue(new TextEncoder().encode(text.slice(0, end)));
        // erroring at once would drop the queued frames: let the reader take them first
        setTimeout(() => controller.error(new TypeError("terminated")), 100);
        text = "";
        frames = Infinity;
      },
    });
    return new Response(response.body.pipeThrough(cut), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  return { impl, requests };
}

test("the SDK reconnects through Location with Last-Event-ID and misses nothing", async () => {
  const threadId = await newThread();
  const { impl, requests } = breakingFetch(2);
  const reconnecting = newClient({ callerOptions: { maxRetries: 0, fetch: impl } });
  const parts = await collect(
    reconnecting.runs.stream(threadId, "agent", {
      // slow enough that the SDK (waiting 1-2 s before it reconnects) rejoins a live run
      input: { items: ["k"], delay: 1.5 },
      streamMode: ["values", "updates"],
      streamResumable: true,
    }),
  );
  assert.deepEqual(events(parts), ["metadata", "values", "updates", "values", "updates", "values"]);
  assert.deepEqual(parts.at(-1).data, { items: ["k", "a", "b"], delay: 1.5 });
  const ids = parts.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, `no event twice: ${ids}`);
  assert.equal(requests.length, 2, JSON.stringify(requests));
  const runId = parts[0].data.run_id;
  assert.equal(requests[1].method, "GET");
  assert.ok(requests[1].url.endsWith(`/threads/${threadId}/runs/${runId}/stream`), requests[1].url);
  assert.equal(requests[1].lastEventId, ids[1]);
});

test("onDisconnect cancel stops the run when the client goes away", async () => {
  const threadId = await newThread();
  const controller = new AbortController();
  let runId;
  try {
    for await (const part of client.runs.stream(threadId, "agent", {
      input: { items: ["o"], delay: 2 },
      streamMode: "values",
      onDisconnect: "cancel",
      signal: controller.signal,
    })) {
      if (part.event === "metadata") {
        runId = part.data.run_id;
        controller.abort();
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  assert.ok(runId);
  const run = await runReaches(threadId, runId);
  assert.equal(run.status, "interrupted");
});
