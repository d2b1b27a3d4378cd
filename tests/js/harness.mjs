// What the matrix-js-sdk scripts share: quiet logging, a failure that names the step and
// the server's non-2xx answers, a fetch that records them, and waiting for SDK events.

import { readFileSync } from "node:fs";

import { logger } from "matrix-js-sdk/lib/logger.js";

// Quiet: only the SDK's warnings and errors reach stderr. Child loggers copy the root's
// methodFactory when they are made, so they are quiet too.
const loudFactory = logger.methodFactory;
logger.methodFactory = (methodName, level, name) =>
    methodName === "warn" || methodName === "error" ? loudFactory(methodName, level, name) : () => {};
logger.setLevel("warn");

export const SDK_VERSION = JSON.parse(
    readFileSync(new URL("./node_modules/matrix-js-sdk/package.json", import.meta.url), "utf8"),
).version;

export const TRACE = Boolean(process.env.DM_TRACE); // DM_TRACE=1: every request to stderr

export function describe(err) {
    if (err && err.errcode) return `${err.httpStatus} ${err.errcode}: ${err.data?.error ?? err.message}`;
    return err?.stack ?? String(err);
}

export class Harness {
    constructor(name, totalTimeoutMs, stepTimeoutMs) {
        this.name = name;
        this.started = Date.now();
        this.stepTimeoutMs = stepTimeoutMs;
        this.steps = [];
        this.currentStep = "starting";
        this.clients = [];
        this.httpFailures = [];
        this.endpoints = new Set();
        this.overall = setTimeout(() => this.fail(`timed out after ${totalTimeoutMs} ms`), totalTimeoutMs);
        process.on("unhandledRejection", (err) => this.fail(`unhandled rejection: ${describe(err)}`));
        process.on("uncaughtException", (err) => this.fail(`uncaught exception: ${describe(err)}`));
        this.fetch = this.fetch.bind(this);
    }

    fail(message) {
        process.stderr.write(`${this.name}: FAILED at step "${this.currentStep}": ${message}\n`);
        if (this.httpFailures.length) {
            process.stderr.write(`${this.name}: non-2xx responses: ${JSON.stringify(this.httpFailures)}\n`);
        }
        for (const client of this.clients) client.stopClient();
        process.exit(1);
    }

    step(name) {
        if (this.currentStep !== "starting") this.steps.push({ step: this.currentStep, ms_done_at: Date.now() - this.started });
        this.currentStep = name;
    }

    check(condition, message) {
        if (!condition) this.fail(message);
    }

    /** Every request the SDK makes: remember the endpoints and every non-success. */
    async fetch(resource, options) {
        const url = new URL(resource instanceof Request ? resource.url : String(resource));
        const method = options?.method ?? "GET";
        const path = url.pathname.replace(/\/(![^/]+|%21[^/]+|@[^/]+|%40[^/]+|\$[^/]+|%24[^/]+)/g, "/{id}")
            .replace(/\/(send\/[^/]+|sendToDevice\/[^/]+|redact\/\{id\}|filter)\/[^/]+$/, "/$1/{txn}");
        this.endpoints.add(`${method} ${path}`);
        const response = await fetch(resource, options);
        if (TRACE) process.stderr.write(`[http] ${method} ${url.pathname}${url.search} -> ${response.status}\n`);
        if (!response.ok) this.httpFailures.push({ method, path: url.pathname, status: response.status });
        return response;
    }

    /** Resolve with the arguments of the first `eventName` emission that `predicate` accepts. */
    waitFor(emitter, eventName, predicate, what) {
        return new Promise((resolve) => {
            const timer = setTimeout(() => {
                emitter.off(eventName, listener);
                const who = typeof emitter.getUserId === "function" ? `${emitter.getUserId()} ` : "";
                this.fail(`${who}waited ${this.stepTimeoutMs} ms for ${what}`);
            }, this.stepTimeoutMs);
            const listener = (...args) => {
                let ok;
                try {
                    ok = predicate(...args);
                } catch (err) {
                    this.fail(`checking ${what}: ${describe(err)}`);
                }
                if (ok) {
                    clearTimeout(timer);
                    emitter.off(eventName, listener);
                    resolve(args);
                }
            };
            emitter.on(eventName, listener);
        });
    }

    /** Poll `probe` (async) until it returns a truthy value; fail after the step timeout. */
    async until(probe, what, intervalMs = 50) {
        const deadline = Date.now() + this.stepTimeoutMs;
        for (;;) {
            const value = await probe();
            if (value) return value;
            if (Date.now() > deadline) this.fail(`waited ${this.stepTimeoutMs} ms for ${what}`);
            await new Promise((r) => setTimeout(r, intervalMs));
        }
    }

    finish(summary) {
        this.step("done");
        for (const client of this.clients) client.stopClient();
        clearTimeout(this.overall);
        process.stdout.write(JSON.stringify({
            ok: true, sdk_version: SDK_VERSION, ...summary, endpoints: [...this.endpoints].sort(),
            http_failures: this.httpFailures, steps: this.steps, elapsed_ms: Date.now() - this.started,
        }) + "\n");
        process.exit(0);
    }
}
