// The Store API through the JS SDK: putItem/getItem/deleteItem/searchItems/listNamespaces, with
// filters, paging, ttl and refreshTtl, and the graph's own store (contract §2.1 Item; captures
// store_*.txt, sdk-transcript.json "store.*").
import assert from "node:assert/strict";
import { test } from "node:test";
import { client, newThread, sleep, unique } from "./lib.mjs";

const ITEM_KEYS = ["createdAt", "created_at", "key", "namespace", "updatedAt", "updated_at", "value"];

test("putItem, getItem, update, deleteItem with the official shapes", async () => {
  const ns = [unique("t"), "users", "u1"];
  assert.equal(await client.store.putItem(ns, "prefs", { theme: "dark" }), undefined); // 204
  const item = await client.store.getItem(ns, "prefs");
  // the SDK adds camelCase copies of the timestamps
  assert.deepEqual(Object.keys(item).sort(), ITEM_KEYS);
  assert.deepEqual([item.namespace, item.key, item.value], [ns, "prefs", { theme: "dark" }]);
  assert.ok(item.created_at.endsWith("+00:00"), item.created_at);
  assert.equal(item.createdAt, item.created_at);

  await client.store.putItem(ns, "prefs", { theme: "light", size: 2 });
  const updated = await client.store.getItem(ns, "prefs");
  assert.deepEqual(updated.value, { theme: "light", size: 2 });
  assert.equal(updated.created_at, item.created_at);
  assert.ok(Date.parse(updated.updated_at) >= Date.parse(item.updated_at));

  await client.store.deleteItem(ns, "prefs");
  assert.equal(await client.store.getItem(ns, "prefs"), null); // 200 null
  await client.store.deleteItem(ns, "prefs"); // deleting a missing item is fine
  await assert.rejects(client.store.putItem(["a.b"], "k", {}), /cannot contain periods/); // client-side
});

test("searchItems filters, pages, newest first, with score null", async () => {
  const root = unique("t");
  for (let n = 0; n < 5; n++) {
    const kind = n % 2 === 0 ? "even" : "odd";
    await client.store.putItem([root, "docs"], `d${n}`, { n, kind });
  }
  await client.store.putItem([root, "other"], "o", { n: 9, kind: "even" });

  const all = await client.store.searchItems([root, "docs"]);
  assert.deepEqual(
    all.items.map((i) => i.key),
    ["d4", "d3", "d2", "d1", "d0"],
  );
  assert.ok(all.items.every((i) => i.score === null && i.createdAt === i.created_at));
  const page = await client.store.searchItems([root, "docs"], { limit: 2, offset: 1 });
  assert.deepEqual(
    page.items.map((i) => i.key),
    ["d3", "d2"],
  );
  const evens = await client.store.searchItems([root, "docs"], { filter: { kind: "even" } });
  assert.deepEqual(
    evens.items.map((i) => i.key),
    ["d4", "d2", "d0"],
  );
  const notEven = await client.store.searchItems([root], { filter: { kind: { $ne: "even" } } });
  assert.deepEqual(
    notEven.items.map((i) => i.key),
    ["d3", "d1"],
  );
  const everything = await client.store.searchItems([root], { limit: 100, refreshTtl: false });
  assert.deepEqual(everything.items.map((i) => i.key).sort(), ["d0", "d1", "d2", "d3", "d4", "o"]);
});

test("listNamespaces with prefix, suffix, maxDepth and paging", async () => {
  const root = unique("t");
  for (const ns of [
    [root, "a", "x"],
    [root, "a", "y"],
    [root, "b", "x"],
    [root, "b", "x", "deep"],
  ]) {
    await client.store.putItem(ns, "k", { v: 1 });
  }
  assert.deepEqual((await client.store.listNamespaces({ prefix: [root] })).namespaces, [
    [root, "a", "x"],
    [root, "a", "y"],
    [root, "b", "x"],
    [root, "b", "x", "deep"],
  ]);
  assert.deepEqual((await client.store.listNamespaces({ prefix: [root], suffix: ["x"] })).namespaces, [
    [root, "a", "x"],
    [root, "b", "x"],
  ]);
  assert.deepEqual((await client.store.listNamespaces({ prefix: [root], maxDepth: 2 })).namespaces, [
    [root, "a"],
    [root, "b"],
  ]);
  assert.deepEqual((await client.store.listNamespaces({ prefix: [root], limit: 2, offset: 1 })).namespaces, [
    [root, "a", "y"],
    [root, "b", "x"],
  ]);
});

test("ttl expires items; refreshTtl and index options are accepted", async () => {
  const ns = [unique("t"), "ttl"];
  await client.store.putItem(ns, "short", { v: 1 }, { ttl: 0.01 }); // minutes: 0.6 s
  await client.store.putItem(ns, "kept", { v: 2 }, { ttl: null });
  assert.deepEqual((await client.store.getItem(ns, "short", { refreshTtl: false })).value, { v: 1 });
  await sleep(1200);
  assert.equal(await client.store.getItem(ns, "short"), null);
  assert.deepEqual((await client.store.getItem(ns, "kept", { refreshTtl: true })).value, { v: 2 });
  assert.deepEqual(
    (await client.store.searchItems(ns)).items.map((i) => i.key),
    ["kept"],
  );
  // index: false stores the item without indexing it; it is still found by key and by search
  await client.store.putItem(ns, "plain", { text: "cat" }, { index: false });
  assert.deepEqual((await client.store.getItem(ns, "plain")).value, { text: "cat" });
});

test("a graph node and the API share one store", async () => {
  const ns = [unique("t"), "memory"];
  await client.store.putItem(ns, "from-api", { by: "api" });
  const threadId = await newThread();
  const out = await client.runs.wait(threadId, "memory", {
    input: { namespace: ns, key: "from-graph", value: { by: "graph" }, read_key: "from-api" },
  });
  assert.deepEqual(out.found, { by: "api" });
  assert.deepEqual((await client.store.getItem(ns, "from-graph")).value, { by: "graph" });
});
