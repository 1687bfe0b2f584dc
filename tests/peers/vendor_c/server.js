#!/usr/bin/env node
"use strict";
// Vendor C SC-700 roll-to-roll sputter coater: an OPC UA test peer built on
// node-opcua, an OPC UA stack independent of the MES's asyncua. See README.md.
//
//   node server.js --port 4850 [--time-scale 1] [--faults SPEC] [--acting-s 0.3]
//                  [--pitch-m 0.02] [--rate 0.036] [--seed 1] [--initial-state Idle]
//                  [--pki-dir DIR] [--exit-with-stdin 1]
//
// Prints "ready opc.tcp://127.0.0.1:PORT" once listening; exits 0 on SIGTERM/SIGINT,
// 2 with one line on stderr for a bad option.

const path = require("path");
const { parseFaults, FaultError, LANES } = require("./faults");
const { Machine, STATE } = require("./machine");

// node-opcua is loaded after the options are checked: a bad option answers at
// once instead of after the second or so the stack takes to load.
let ua;

const NAMESPACE_URI = "urn:vendor-c:sputter";
const TICK_MS = 10;

// UNECE Rec. 20 common codes, as OPC UA's EUInformation wants them.
const engineeringUnits = () => ({
  kW: ua.makeEUInformation("KWT", "kW", "kilowatt"),
  Pa: ua.makeEUInformation("PAL", "Pa", "pascal"),
  mPerMin: ua.makeEUInformation("2X", "m/min", "metre per minute"),
  N: ua.makeEUInformation("NEW", "N", "newton"),
  degC: ua.makeEUInformation("CEL", "°C", "degree Celsius"),
  m: ua.makeEUInformation("MTR", "m", "metre"),
  um: ua.makeEUInformation("4H", "µm", "micrometre"),
  slm: ua.makeEUInformation("SLM", "slm", "standard litre per minute"),
});

class OptionError extends Error {}

function parseArgs(argv) {
  const o = {
    port: undefined, timeScale: 1, faults: "", actingS: 0.3, pitchM: 0.02, rate: 0.036, seed: 1,
    initialState: "Idle", pkiDir: path.join(__dirname, ".pki"), exitWithStdin: 0,
  };
  const numeric = { "--port": "port", "--time-scale": "timeScale", "--acting-s": "actingS",
    "--pitch-m": "pitchM", "--rate": "rate", "--seed": "seed", "--exit-with-stdin": "exitWithStdin" };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new OptionError(`${flag} needs a value`);
    if (flag in numeric) {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
        throw new OptionError(`${flag} ${value}: not a non-negative number`);
      }
      o[numeric[flag]] = n;
    } else if (flag === "--faults") o.faults = value;
    else if (flag === "--initial-state") o.initialState = value;
    else if (flag === "--pki-dir") o.pkiDir = value;
    else throw new OptionError(`unknown option ${flag}`);
  }
  if (o.port === undefined || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
    throw new OptionError("--port must be given, 1..65535");
  }
  if (o.timeScale <= 0 || o.pitchM <= 0 || o.rate <= 0) {
    throw new OptionError("--time-scale, --pitch-m and --rate must be positive");
  }
  if (o.initialState !== "Idle" && o.initialState !== "Stopped") {
    throw new OptionError("--initial-state must be Idle or Stopped");
  }
  try {
    parseFaults(o.faults);
  } catch (err) {
    if (err instanceof FaultError) throw new OptionError(`--faults: ${err.message}`);
    throw err;
  }
  return o;
}

function splitFaultTexts(spec) {
  const t = spec.trim();
  return t === "" ? [] : t.split(";").map((s) => s.trim());
}

function buildAddressSpace(server, machine, changed) {
  const { Variant, DataType, VariantArrayType, StatusCodes, AccessLevelFlag } = ua;
  const RW = AccessLevelFlag.CurrentRead | AccessLevelFlag.CurrentWrite;
  const EU = engineeringUnits();
  const addressSpace = server.engine.addressSpace;
  const ns = addressSpace.registerNamespace(NAMESPACE_URI);
  const id = (s) => `s=SC700.${s}`;

  const vendorFolder = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "VendorC", nodeId: "s=VendorC" });
  const coater = ns.addObject({ organizedBy: vendorFolder, browseName: "SC700", nodeId: "s=SC700",
    description: "SC-700 roll-to-roll sputter coater" });
  for (const [name, value] of [["Manufacturer", "Vendor C"], ["Model", "SC-700"], ["SerialNumber", "C7-0042"]]) {
    ns.addVariable({ propertyOf: coater, browseName: name, nodeId: id(name), dataType: "String",
      value: { dataType: DataType.String, value } });
  }
  const object = (parent, name, nodeId = name) =>
    ns.addObject({ componentOf: parent, browseName: name, nodeId: id(nodeId) });
  const packTags = object(coater, "PackTags");
  const command = object(packTags, "Command", "PackTags.Command");
  const status = object(packTags, "Status", "PackTags.Status");
  const admin = object(packTags, "Admin", "PackTags.Admin");
  const product = object(coater, "Product");
  const settings = object(coater, "Settings");
  const processObj = object(coater, "Process");
  const gauge = object(coater, "ThicknessGauge");
  const diagnostics = object(coater, "Diagnostics");

  // A writable scalar bound to the machine: type checked by the stack, range by us.
  const writable = (parent, nodeId, browseName, dataType, get, set, range, eu) => {
    const options = {
      componentOf: parent, browseName, nodeId: id(nodeId), dataType,
      accessLevel: RW, userAccessLevel: RW, minimumSamplingInterval: 50,
      value: {
        get: () => new Variant({ dataType: DataType[dataType], value: get() }),
        set: (variant) => {
          const v = variant.value;
          if (range !== undefined && !(v >= range[0] && v <= range[1])) return StatusCodes.BadOutOfRange;
          return set(v);
        },
      },
    };
    if (eu === undefined) return ns.addVariable(options);
    return ns.addAnalogDataItem({ ...options, engineeringUnits: eu,
      engineeringUnitsRange: { low: range[0], high: range[1] } });
  };
  const ok = (fn) => (v) => { fn(v); return StatusCodes.Good; };

  writable(command, "PackTags.Command.CntrlCmd", "CntrlCmd", "Int32",
    () => machine.cntrlCmd, ok((v) => { machine.cntrlCmd = v; }));
  writable(command, "PackTags.Command.CmdChangeRequest", "CmdChangeRequest", "Boolean",
    () => machine.changeRequest, ok((v) => { machine.changeRequest = v; }));
  writable(product, "Product.BatchId", "BatchId", "String",
    () => machine.batchId, (v) => {
      if (v === null || v.length > 64) return StatusCodes.BadOutOfRange;
      machine.batchId = v;
      return StatusCodes.Good;
    });
  writable(product, "Product.RollLength", "RollLength", "Float",
    () => machine.rollLengthM, ok((v) => { machine.rollLengthM = v; }), [0, 10000], EU.m);

  const st = machine.settings;
  const setting = (name, dataType, key, range, eu) =>
    writable(settings, `Settings.${name}`, name, dataType, () => st[key], ok((v) => { st[key] = v; }), range, eu);
  setting("CathodePower", "Float", "powerKw", [0, 10], EU.kW);
  setting("ChamberPressure", "Float", "pressurePa", [0.05, 5], EU.Pa);
  setting("WebSpeed", "Float", "webSpeedMMin", [0.05, 20], EU.mPerMin);
  setting("Passes", "UInt16", "passes", [1, 20]);
  setting("WebTension", "Float", "tensionN", [0, 500], EU.N);
  setting("DrumTemperature", "Float", "drumTempC", [-20, 150], EU.degC);
  // Argon in standard litres per minute: the MES thinks in sccm and must scale (x 1000).
  setting("ArgonFlow", "Float", "argonSlm", [0, 0.5], EU.slm);

  writable(diagnostics, "Diagnostics.SimFault", "SimFault", "String",
    () => machine.faultSpec(), (v) => {
      const text = v === null ? "" : v;
      try {
        machine.setFaults(parseFaults(text), splitFaultTexts(text), Date.now());
        // A client that writes a fault and reads the state next must see it.
        changed();
      } catch (err) {
        if (err instanceof FaultError) {
          console.error(`SimFault refused: ${err.message}`);
          return StatusCodes.BadInvalidArgument;
        }
        throw err;
      }
      return StatusCodes.Good;
    });

  // Read-only process image: pushed on change, so subscriptions see it at once.
  const pushed = (parent, nodeId, browseName, dataType, initial, extra = {}) => {
    const options = { componentOf: parent, browseName, nodeId: id(nodeId), dataType,
      accessLevel: AccessLevelFlag.CurrentRead, userAccessLevel: AccessLevelFlag.CurrentRead,
      minimumSamplingInterval: 0, value: initial, ...extra };
    return extra.engineeringUnits === undefined ? ns.addVariable(options) : ns.addAnalogDataItem(options);
  };
  const lanesVariant = (lanes) => new Variant({ dataType: DataType.Double,
    arrayType: VariantArrayType.Array, value: new Float64Array(lanes) });
  return {
    state: pushed(status, "PackTags.Status.StateCurrent", "StateCurrent", "Int32",
      new Variant({ dataType: DataType.Int32, value: machine.state })),
    starts: pushed(admin, "PackTags.Admin.StartsAccepted", "StartsAccepted", "UInt32",
      new Variant({ dataType: DataType.UInt32, value: 0 })),
    refused: pushed(admin, "PackTags.Admin.CommandsRefused", "CommandsRefused", "Int16",
      new Variant({ dataType: DataType.Int16, value: 0 })),
    lengthDone: pushed(processObj, "Process.LengthDone", "LengthDone", "Double",
      new Variant({ dataType: DataType.Double, value: 0 }),
      { engineeringUnits: EU.m, engineeringUnitsRange: { low: 0, high: 10000 } }),
    power: pushed(processObj, "Process.CathodePower", "CathodePower", "Float",
      new Variant({ dataType: DataType.Float, value: 0 }),
      { engineeringUnits: EU.kW, engineeringUnitsRange: { low: 0, high: 10 } }),
    lanes: pushed(gauge, "ThicknessGauge.Lanes", "Lanes", "Double", lanesVariant(machine.lanesUm),
      { valueRank: 1, arrayDimensions: [LANES], engineeringUnits: EU.um,
        engineeringUnitsRange: { low: 0, high: 100 } }),
    lanesVariant,
  };
}

// Push what changed since the last tick, with the status a client should see.
function publish(nodes, machine, last) {
  const { Variant, DataType, StatusCodes } = ua;
  const put = (key, node, value, make, status = StatusCodes.Good) => {
    if (last[key] !== undefined && last[key].value === value && last[key].status === status) return;
    last[key] = { value, status };
    node.setValueFromSource(make(value), status);
  };
  const v = machine.visibleState();
  put("state", nodes.state, v.value, (x) => new Variant({ dataType: DataType.Int32, value: x }),
    v.bad ? StatusCodes.BadSensorFailure : StatusCodes.Good);
  put("starts", nodes.starts, machine.startsAccepted, (x) => new Variant({ dataType: DataType.UInt32, value: x }));
  put("refused", nodes.refused, machine.commandsRefused, (x) => new Variant({ dataType: DataType.Int16, value: x }));
  put("lengthDone", nodes.lengthDone, machine.lengthDoneM, (x) => new Variant({ dataType: DataType.Double, value: x }));
  put("power", nodes.power, machine.actualPowerKw, (x) => new Variant({ dataType: DataType.Float, value: x }));
  // The array object changes only on a scan, so identity is the change test.
  put("lanes", nodes.lanes, machine.lanesUm, nodes.lanesVariant);
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof OptionError) {
      console.error(`vendor-c server: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  ua = require("node-opcua");
  const { OPCUAServer, OPCUACertificateManager, RegisterServerMethod, SecurityPolicy, MessageSecurityMode } = ua;
  const machine = new Machine(options);
  machine.setFaults(parseFaults(options.faults), splitFaultTexts(options.faults), Date.now());

  const serverCertificateManager = new OPCUACertificateManager({
    rootFolder: options.pkiDir, automaticallyAcceptUnknownCertificate: true,
  });
  const server = new OPCUAServer({
    port: options.port, host: "127.0.0.1", hostname: "127.0.0.1", resourcePath: "",
    registerServerMethod: RegisterServerMethod.HIDDEN,
    securityPolicies: [SecurityPolicy.None], securityModes: [MessageSecurityMode.None],
    serverCertificateManager,
    buildInfo: { productName: "SC-700 OPC UA server", manufacturerName: "Vendor C", softwareVersion: "3.4.1" },
    serverInfo: { applicationUri: "urn:vendor-c:sc700:server", productUri: "urn:vendor-c:sc700" },
  });
  await server.initialize();
  const last = {};
  let nodes;
  nodes = buildAddressSpace(server, machine, () => publish(nodes, machine, last));
  publish(nodes, machine, last);

  let lastMs = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    machine.tick(now, (now - lastMs) / 1000);
    lastMs = now;
    publish(nodes, machine, last);
  }, TICK_MS);

  await server.start();
  process.stdout.write(`ready ${server.getEndpointUrl()}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    // A client that never closes its session must not keep the test waiting.
    setTimeout(() => process.exit(0), 1000).unref();
    await server.shutdown(0);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  if (options.exitWithStdin) {
    // The test that started us holds our stdin: if it dies, even by SIGKILL, we go too.
    process.stdin.on("end", stop);
    process.stdin.on("error", stop);
    process.stdin.resume();
  }
}

main().catch((err) => {
  console.error(`vendor-c server: ${err.message}`);
  process.exit(1);
});

module.exports = { STATE };
