// Shared helpers of the JavaScript SDK suite: a client for the server under test (its URL comes from
// LANGOPEN_API_URL, set by tests/e2e/test_js_sdk.py), stream collection, bounded polling, and a
// plain `fetch` for what the SDK hides (status codes, headers).
import assert from "node:assert/strict";
import { Client } from "@langchain/langgraph-sdk";

export const API_URL = process.env.LANGOPEN_API_URL;
if (!API_URL) {
  throw new Error("LANGOPEN_API_URL is not set: run this suite through tests/e2e/test_js_sdk.py");
}

// The system assistant of a graph: uuid5(UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), graph_id)
// (contract §2.1); `agent` is the one the contract quotes.
export const AGENT_ASSISTANT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca";
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const STREAM_ID = /^\d+-\d+$/;
export const THREAD_BUSY =
  "Thread is already running a task. Wait for it to finish or choose a different multitask strategy.";

/** A client as a user would build it; no retries, so a 5xx fails the test instead of hiding. */
export function newClient(options = {}) {
  return new Client({ apiUrl: API_URL, apiKey: null, callerOptions: { maxRetries: 0 }, ...options });
}

export const client = newClient();

/** Every part of an SDK stream, in order. */
export async function collect(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

export const events = (parts) => parts.map((p) => p.event);

/** Rejects with the SDK's HTTPError of `status`; returns the parsed error body. */
export async function rejectsWith(promise, status) {
  let caught;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.equal(caught.status, status, `expected HTTP ${status}, got: ${caught}`);
  try {
    return JSON.parse(caught.text);
  } catch {
    return caught.text;
  }
}

/** `fn()` again and again (bounded) until `done(result)` holds; returns that result. */
export async function until(fn, done, { within = 30_000, every = 50, what = "condition" } = {}) {
  const deadline = Date.now() + within;
  for (;;) {
    const result = await fn();
    if (done(result)) return result;
    if (Date.now() > deadline) {
      assert.fail(`${what} not reached after ${within} ms; last: ${JSON.stringify(result)}`);
    }
    await sleep(every);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const TERMINAL = new Set(["success", "error", "interrupted", "timeout"]);

export function runReaches(threadId, runId, statuses = TERMINAL) {
  const wanted = new Set(statuses);
  return until(
    () => client.runs.get(threadId, runId),
    (run) => wanted.has(run.status),
    { what: `run ${runId} in ${[...wanted]}` },
  );
}

export async function newThread(payload) {
  const thread = await client.threads.create(payload);
  return thread.thread_id;
}

/** A plain request to the server, for status codes and headers. */
export async function raw(path, { method = "GET", json, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["content-type"] = "application/json";
  }
  const response = await fetch(`${API_URL}${path}`, init);
  const text = await response.text();
  let body = text;
  try {
    body = text.trim() === "" ? null : JSON.parse(text);
  } catch {
    // not JSON (an SSE body): keep the text
  }
  return { status: response.status, headers: response.headers, body };
}

/** A unique label for names, metadata and namespaces, so tests never see each other's data. */
export function unique(prefix = "js") {
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

