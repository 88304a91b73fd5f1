// Assistants through the JS SDK: create/get/update/delete/search/count, versions and setLatest,
// graph drawing, schemas and subgraphs (contract §2.1; captures sdk-transcript.json "assistants.*").
import assert from "node:assert/strict";
import { test } from "node:test";
import { AGENT_ASSISTANT_ID, UUID, client, rejectsWith, unique } from "./lib.mjs";

const ASSISTANT_KEYS = [
  "assistant_id",
  "config",
  "context",
  "created_at",
  "description",
  "graph_id",
  "metadata",
  "name",
  "updated_at",
  "version",
];

test("system assistants exist per graph with the official uuid5 ids", async () => {
  const agent = await client.assistants.get(AGENT_ASSISTANT_ID);
  assert.deepEqual(Object.keys(agent).sort(), ASSISTANT_KEYS);
  assert.equal(agent.graph_id, "agent");
  assert.equal(agent.name, "agent");
  assert.deepEqual(agent.metadata, { created_by: "system" });
  assert.equal(agent.version, 1);

  const system = await client.assistants.search({ metadata: { created_by: "system" }, limit: 100 });
  const graphs = system.map((a) => a.graph_id);
  for (const graph of ["agent", "hitl", "echo", "nested", "failing"]) assert.ok(graphs.includes(graph), graph);
  assert.equal(await client.assistants.count({ graphId: "agent", metadata: { created_by: "system" } }), 1);
});

test("create, get, update, versions, setLatest and delete", async () => {
  const tag = unique();
  const created = await client.assistants.create({
    graphId: "agent",
    name: `first-${tag}`,
    description: "made by the JS suite",
    metadata: { tag, v: 1 },
    config: { tags: ["js"], recursion_limit: 7 },
  });
  assert.deepEqual(Object.keys(created).sort(), ASSISTANT_KEYS);
  assert.match(created.assistant_id, UUID);
  assert.equal(created.graph_id, "agent");
  assert.equal(created.name, `first-${tag}`);
  assert.equal(created.description, "made by the JS suite");
  assert.deepEqual(created.metadata, { tag, v: 1 });
  assert.deepEqual(created.config.tags, ["js"]);
  assert.equal(created.config.recursion_limit, 7);
  assert.equal(created.version, 1);
  const id = created.assistant_id;

  assert.deepEqual(await client.assistants.get(id), created);

  const updated = await client.assistants.update(id, { name: `second-${tag}`, metadata: { v: 2 } });
  assert.equal(updated.version, 2);
  assert.equal(updated.name, `second-${tag}`);
  assert.deepEqual(updated.metadata, { tag, v: 2 }); // metadata is merged
  assert.equal(updated.created_at, created.created_at);

  const versions = await client.assistants.getVersions(id);
  assert.deepEqual(
    versions.map((v) => [v.version, v.name]),
    [
      [2, `second-${tag}`],
      [1, `first-${tag}`],
    ],
  );
  assert.ok(versions.every((v) => v.assistant_id === id && v.graph_id === "agent"));
  const limited = await client.assistants.getVersions(id, { limit: 1, offset: 1 });
  assert.deepEqual(
    limited.map((v) => v.version),
    [1],
  );
  const byMetadata = await client.assistants.getVersions(id, { metadata: { v: 2 } });
  assert.deepEqual(
    byMetadata.map((v) => v.version),
    [2],
  );

  // setLatest: the SDK sends {"version": 1} as the body
  const back = await client.assistants.setLatest(id, 1);
  assert.equal(back.version, 1);
  assert.equal(back.name, `first-${tag}`);
  assert.equal((await client.assistants.get(id)).name, `first-${tag}`);

  await client.assistants.delete(id);
  await rejectsWith(client.assistants.get(id), 404);
  await rejectsWith(client.assistants.delete(id), 404);
});

test("an assistant's context and config reach its runs", async () => {
  const assistant = await client.assistants.create({
    graphId: "config_echo",
    context: { model: "from-assistant" },
    config: { tags: ["assistant-tag"] },
  });
  assert.deepEqual(assistant.context, { model: "from-assistant" });
  const threadId = (await client.threads.create()).thread_id;
  const out = await client.runs.wait(threadId, assistant.assistant_id, { input: {} });
  assert.deepEqual(out.seen.context, { model: "from-assistant" });
  assert.equal(out.seen.configurable.assistant_id, assistant.assistant_id);
  assert.ok(out.seen.tags.includes("assistant-tag"), JSON.stringify(out.seen.tags));
  const run = await client.runs.wait(threadId, assistant.assistant_id, { input: {}, context: { temperature: 0.1 } });
  assert.deepEqual(run.seen.context, { model: "from-assistant", temperature: 0.1 });
  await client.assistants.delete(assistant.assistant_id);
});

test("create with ifExists and a chosen id", async () => {
  const assistantId = crypto.randomUUID();
  const first = await client.assistants.create({ graphId: "echo", assistantId, name: "kept" });
  assert.equal(first.assistant_id, assistantId);
  const again = await client.assistants.create({
    graphId: "echo",
    assistantId,
    name: "ignored",
    ifExists: "do_nothing",
  });
  assert.equal(again.name, "kept");
  assert.equal(again.assistant_id, assistantId);
  await rejectsWith(client.assistants.create({ graphId: "echo", assistantId, ifExists: "raise" }), 409);
  await rejectsWith(client.assistants.create({ graphId: "no-such-graph" }), 404);
  await client.assistants.delete(assistantId);
});

test("search filters, sorts, pages and reports pagination", async () => {
  const tag = unique();
  const ids = [];
  for (const name of ["b", "a", "c"]) {
    ids.push((await client.assistants.create({ graphId: "agent", name: `${tag}-${name}`, metadata: { tag } })).assistant_id);
  }
  const byName = await client.assistants.search({ metadata: { tag }, sortBy: "name", sortOrder: "asc" });
  assert.deepEqual(
    byName.map((a) => a.name),
    [`${tag}-a`, `${tag}-b`, `${tag}-c`],
  );
  const page = await client.assistants.search({
    metadata: { tag },
    sortBy: "name",
    sortOrder: "desc",
    limit: 2,
    offset: 0,
    includePagination: true,
  });
  assert.deepEqual(
    page.assistants.map((a) => a.name),
    [`${tag}-c`, `${tag}-b`],
  );
  assert.equal(page.next, "2");
  const last = await client.assistants.search({ metadata: { tag }, limit: 2, offset: 2, includePagination: true });
  assert.equal(last.assistants.length, 1);
  assert.equal(last.next, null);

  const named = await client.assistants.search({ name: `${tag}-a` });
  assert.deepEqual(
    named.map((a) => a.assistant_id),
    [ids[1]],
  );
  const selected = await client.assistants.search({ metadata: { tag }, select: ["assistant_id", "name"] });
  assert.equal(selected.length, 3);
  assert.ok(selected.every((a) => Object.keys(a).sort().join() === "assistant_id,name"), JSON.stringify(selected));
  assert.equal(await client.assistants.count({ metadata: { tag } }), 3);
  assert.equal(await client.assistants.count({ metadata: { tag }, graphId: "echo" }), 0);
  for (const id of ids) await client.assistants.delete(id);
  assert.equal(await client.assistants.count({ metadata: { tag } }), 0);
});

test("getGraph draws the graph, with xray for subgraphs", async () => {
  const graph = await client.assistants.getGraph(AGENT_ASSISTANT_ID);
  assert.deepEqual(
    graph.nodes.map((n) => n.id),
    ["__start__", "step_a", "step_b", "__end__"],
  );
  assert.deepEqual(
    graph.edges.map((e) => [e.source, e.target]),
    [
      ["__start__", "step_a"],
      ["step_a", "step_b"],
      ["step_b", "__end__"],
    ],
  );
  const nested = (await client.assistants.search({ graphId: "nested", metadata: { created_by: "system" } }))[0];
  const flat = await client.assistants.getGraph(nested.assistant_id);
  assert.deepEqual(
    flat.nodes.map((n) => n.id),
    ["__start__", "child", "__end__"],
  );
  const deep = await client.assistants.getGraph(nested.assistant_id, { xray: true });
  const deepIds = deep.nodes.map((n) => n.id);
  assert.ok(deepIds.includes("child:step_a") && deepIds.includes("child:step_b"), JSON.stringify(deepIds));
  const one = await client.assistants.getGraph(nested.assistant_id, { xray: 1 });
  assert.deepEqual(
    one.nodes.map((n) => n.id),
    deepIds,
  );
});

test("getSchemas returns the graph's JSON schemas", async () => {
  const schemas = await client.assistants.getSchemas(AGENT_ASSISTANT_ID);
  assert.equal(schemas.graph_id, "agent");
  for (const key of ["input_schema", "output_schema", "state_schema", "config_schema", "context_schema"]) {
    assert.ok(key in schemas, key);
  }
  assert.deepEqual(Object.keys(schemas.state_schema.properties).sort(), ["crash_once", "delay", "items"]);
  const configEcho = (await client.assistants.search({ graphId: "config_echo" }))[0];
  const withContext = await client.assistants.getSchemas(configEcho.assistant_id);
  assert.deepEqual(Object.keys(withContext.context_schema.properties).sort(), ["model", "temperature"]);
});

test("getSubgraphs lists subgraph schemas, by namespace and recursively", async () => {
  const nested = (await client.assistants.search({ graphId: "nested" }))[0];
  const subgraphs = await client.assistants.getSubgraphs(nested.assistant_id);
  assert.deepEqual(Object.keys(subgraphs), ["child"]);
  assert.deepEqual(Object.keys(subgraphs.child.state_schema.properties).sort(), ["crash_once", "delay", "items"]);
  const inChild = await client.assistants.getSubgraphs(nested.assistant_id, { namespace: "child" });
  assert.deepEqual(Object.keys(inChild), ["child"]);
  const recursive = await client.assistants.getSubgraphs(nested.assistant_id, { recurse: true });
  assert.deepEqual(Object.keys(recursive), ["child"]);
  assert.deepEqual(await client.assistants.getSubgraphs(AGENT_ASSISTANT_ID), {});
});

test("delete with deleteThreads removes the assistant's threads", async () => {
  const assistant = await client.assistants.create({ graphId: "agent" });
  const kept = await client.threads.create();
  const threadId = (await client.threads.create()).thread_id;
  await client.runs.wait(threadId, assistant.assistant_id, { input: { items: [] } });
  assert.equal((await client.threads.get(threadId)).metadata.assistant_id, assistant.assistant_id);
  await client.assistants.delete(assistant.assistant_id, { deleteThreads: true });
  await rejectsWith(client.threads.get(threadId), 404);
  assert.equal((await client.threads.get(kept.thread_id)).thread_id, kept.thread_id);
});

test("missing and malformed assistant ids", async () => {
  await rejectsWith(client.assistants.get(crypto.randomUUID()), 404);
  await rejectsWith(client.assistants.get("agent"), 422); // a graph id is not an assistant id here
  await rejectsWith(client.assistants.update(crypto.randomUUID(), { name: "x" }), 404);
});
