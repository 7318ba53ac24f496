// The stand-in's code for both restore/ and save/ (their index.js say which). Written for
// these tests; it calls @actions/cache's restoreCache and saveCache, the code actions/cache
// runs for the archive and the cache service protocol, and nothing else.
"use strict";
const core = require("@actions/core");
const cache = require("@actions/cache");

async function run(which) {
  const key = core.getInput("key", { required: true });
  const paths = core.getMultilineInput("path", { required: true });
  if (!cache.isFeatureAvailable()) {
    core.warning("no cache service (ACTIONS_CACHE_URL is not set)");
    return;
  }
  if (which === "restore") {
    core.setOutput("cache-primary-key", key);
    const matched = await cache.restoreCache(paths, key);
    if (matched === undefined) {
      core.info(`cache miss: ${key}`);
      return;
    }
    core.info(`cache hit: ${matched}`);
    // Cache services may give the key back in another case (act's lowercases it); an exact
    // match ignores case, as actions/cache's does.
    const exact = matched.localeCompare(key, undefined, { sensitivity: "accent" }) === 0;
    core.setOutput("cache-hit", String(exact));
    core.setOutput("cache-matched-key", matched);
  } else {
    const id = await cache.saveCache(paths, key);
    core.info(`cache saved: ${key} (id ${id})`);
  }
}

module.exports = (which) =>
  run(which).catch((error) => core.setFailed(String(error && error.stack ? error.stack : error)));
