"use strict";
// Fault specifications of the Vendor C test coater.
//
// A specification is "" (no fault) or one or more faults separated by ";",
// each a name followed by comma-separated key=value parameters:
//   refuse_start
//   nan_gauge,at_m=5,length_m=3[,lanes=8]
//   dead_gauge,at_m=5
//   bad_status_state[,seconds=2]      (no seconds: until cleared)
//   unknown_state[,seconds=1]
// Parsing is strict on purpose: a fault that is silently ignored makes a test
// that proves nothing, so anything unknown, missing or not a finite
// non-negative number is an error naming the offending part.

const LANES = 8;

// name → {required params, optional params with defaults}
const FAULTS = {
  refuse_start: { required: [], optional: {} },
  nan_gauge: { required: ["at_m", "length_m"], optional: { lanes: LANES } },
  dead_gauge: { required: ["at_m"], optional: {} },
  bad_status_state: { required: [], optional: { seconds: Infinity } },
  unknown_state: { required: [], optional: { seconds: 1 } },
};

class FaultError extends Error {}

function parseNumber(fault, key, text) {
  // Number("") is 0 and Number("nan") is NaN: accept only plain decimals.
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) {
    throw new FaultError(`${fault}: ${key}=${text} is not a non-negative finite number`);
  }
  return Number(text);
}

function parseOne(text) {
  const parts = text.split(",").map((p) => p.trim());
  const name = parts[0];
  const spec = FAULTS[name];
  if (spec === undefined) {
    throw new FaultError(`unknown fault "${name}" (known: ${Object.keys(FAULTS).join(", ")})`);
  }
  const params = { ...spec.optional };
  const seen = new Set();
  for (const part of parts.slice(1)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new FaultError(`${name}: "${part}" is not key=value`);
    const key = part.slice(0, eq).trim();
    if (!(spec.required.includes(key) || key in spec.optional)) {
      throw new FaultError(`${name}: unknown parameter "${key}"`);
    }
    if (seen.has(key)) throw new FaultError(`${name}: ${key} given twice`);
    seen.add(key);
    params[key] = parseNumber(name, key, part.slice(eq + 1).trim());
  }
  for (const key of spec.required) {
    if (!seen.has(key)) throw new FaultError(`${name}: missing ${key}=`);
  }
  if (name === "nan_gauge" && (params.lanes < 1 || params.lanes > LANES || !Number.isInteger(params.lanes))) {
    throw new FaultError(`nan_gauge: lanes must be an integer 1..${LANES}`);
  }
  return { name, ...params };
}

/** Parse a fault specification; throws FaultError with a one-line reason. */
function parseFaults(text) {
  if (typeof text !== "string") throw new FaultError("fault specification must be a string");
  const trimmed = text.trim();
  if (trimmed === "") return [];
  const faults = trimmed.split(";").map((t) => parseOne(t.trim()));
  const names = faults.map((f) => f.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new FaultError(`fault "${dup}" given twice`);
  return faults;
}

module.exports = { parseFaults, FaultError, LANES };
