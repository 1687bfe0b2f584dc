"use strict";
// The SC-700 sputter coater's behaviour, apart from OPC UA: a PackTags v3 state
// machine, the web transport, the deposition physics and the thickness gauge.
// server.js maps it onto the address space; nothing here knows about nodes.

const { LANES } = require("./faults");

// PackTags v3 / ISA-TR88.00.02-2015 state numbers (not OPC 30050's).
const STATE = Object.freeze({
  Undefined: 0, Clearing: 1, Stopped: 2, Starting: 3, Idle: 4, Suspended: 5, Execute: 6,
  Stopping: 7, Aborting: 8, Aborted: 9, Holding: 10, Held: 11, Unholding: 12, Suspending: 13,
  Unsuspending: 14, Resetting: 15, Completing: 16, Complete: 17,
});
const CMD = Object.freeze({
  Reset: 1, Start: 2, Stop: 3, Hold: 4, Unhold: 5, Suspend: 6, Unsuspend: 7, Abort: 8, Clear: 9,
});
const S = STATE;

// Acting states end by themselves after the acting time.
const ACTING_DONE = new Map([
  [S.Clearing, S.Stopped], [S.Starting, S.Execute], [S.Stopping, S.Stopped],
  [S.Aborting, S.Aborted], [S.Holding, S.Held], [S.Unholding, S.Execute],
  [S.Suspending, S.Suspended], [S.Unsuspending, S.Execute], [S.Resetting, S.Idle],
  [S.Completing, S.Complete],
]);

const NOT_STOPPABLE = new Set([S.Stopped, S.Stopping, S.Aborting, S.Aborted, S.Clearing]);
// command → [predicate on the present state, acting state it leads to]
const TRANSITIONS = new Map([
  [CMD.Reset, [(s) => s === S.Complete || s === S.Stopped, S.Resetting]],
  [CMD.Start, [(s) => s === S.Idle, S.Starting]],
  [CMD.Stop, [(s) => !NOT_STOPPABLE.has(s), S.Stopping]],
  [CMD.Hold, [(s) => s === S.Execute || s === S.Suspended, S.Holding]],
  [CMD.Unhold, [(s) => s === S.Held, S.Unholding]],
  [CMD.Suspend, [(s) => s === S.Execute, S.Suspending]],
  [CMD.Unsuspend, [(s) => s === S.Suspended, S.Unsuspending]],
  [CMD.Abort, [(s) => s !== S.Aborting && s !== S.Aborted, S.Aborting]],
  [CMD.Clear, [(s) => s === S.Aborted, S.Clearing]],
]);

const UNKNOWN_STATE_NUMBER = 99;

// Deterministic noise: the same seed gives the same roll, so a test can rely
// on what it measures without the gauge ever being perfectly flat.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Machine {
  /**
   * @param {object} o
   * @param {number} o.timeScale   simulated seconds per wall second (web transport only)
   * @param {number} o.actingS     wall seconds an acting state lasts
   * @param {number} o.pitchM      band metres between two gauge scans
   * @param {number} o.rate        deposition constant, um per (kW x passes / (m/min))
   * @param {number} o.seed        noise seed
   * @param {string} o.initialState  "Idle" or "Stopped"
   */
  constructor(o) {
    this.timeScale = o.timeScale;
    this.actingMs = o.actingS * 1000;
    this.pitchM = o.pitchM;
    this.rate = o.rate;
    this.random = mulberry32(o.seed);
    this.state = STATE[o.initialState];
    this.stateSinceMs = 0;
    this.settings = {
      powerKw: 0, pressurePa: 0.5, webSpeedMMin: 0.5, passes: 1, tensionN: 50, drumTempC: 20, argonSlm: 0,
    };
    this.batchId = "";
    this.rollLengthM = 0;
    this.cntrlCmd = 0;
    this.changeRequest = false;
    this.lengthDoneM = 0;
    this.actualPowerKw = 0;
    this.lanesUm = new Array(LANES).fill(0);
    this.nextScanM = 0;
    this.startsAccepted = 0;
    this.commandsRefused = 0;
    this.runBatches = new Set();
    this.faults = []; // {name, params..., sinceMs, text}
  }

  /** Replace the active faults (already parsed); times count from nowMs. */
  setFaults(parsed, texts, nowMs) {
    this.faults = parsed.map((f, i) => ({ ...f, sinceMs: nowMs, text: texts[i] }));
  }

  faultSpec() {
    return this.faults.map((f) => f.text).join(";");
  }

  fault(name) {
    return this.faults.find((f) => f.name === name);
  }

  /** What a client reads for StateCurrent: {value, bad}. */
  visibleState() {
    const bad = this.fault("bad_status_state") !== undefined;
    const value = this.fault("unknown_state") !== undefined ? UNKNOWN_STATE_NUMBER : this.state;
    return { value, bad };
  }

  enter(state, nowMs) {
    this.state = state;
    this.stateSinceMs = nowMs;
  }

  refuse() {
    // Int16 on the wire: wrap like the PLC counter it imitates.
    this.commandsRefused = this.commandsRefused >= 32767 ? 0 : this.commandsRefused + 1;
  }

  /** Act on CntrlCmd once CmdChangeRequest is seen, then reset the request. */
  handleCommand(nowMs) {
    if (!this.changeRequest) return;
    this.changeRequest = false;
    const cmd = this.cntrlCmd;
    const transition = TRANSITIONS.get(cmd);
    if (transition === undefined || !transition[0](this.state)) {
      this.refuse();
      return;
    }
    if (cmd === CMD.Start && !this.startAllowed()) {
      this.refuse();
      return;
    }
    if (cmd === CMD.Start) {
      this.startsAccepted = (this.startsAccepted + 1) >>> 0;
      this.runBatches.add(this.batchId);
      this.lengthDoneM = 0;
      this.nextScanM = this.pitchM;
    }
    this.enter(transition[1], nowMs);
  }

  startAllowed() {
    const s = this.settings;
    return (
      this.fault("refuse_start") === undefined &&
      this.batchId !== "" &&
      !this.runBatches.has(this.batchId) &&
      this.rollLengthM > 0 &&
      s.webSpeedMMin > 0 &&
      s.passes > 0
    );
  }

  /** Advance by dtWallS seconds of wall time ending at nowMs. */
  tick(nowMs, dtWallS) {
    this.expireFaults(nowMs);
    this.handleCommand(nowMs);
    const next = ACTING_DONE.get(this.state);
    if (next !== undefined && nowMs - this.stateSinceMs >= this.actingMs) {
      this.enter(next, nowMs);
    }
    const running = this.state === S.Execute;
    this.actualPowerKw = running ? this.settings.powerKw * (1 + 0.004 * (this.random() - 0.5)) : 0;
    if (!running) return;
    const speedMS = this.settings.webSpeedMMin / 60;
    this.lengthDoneM = Math.min(this.rollLengthM, this.lengthDoneM + speedMS * dtWallS * this.timeScale);
    if (this.lengthDoneM >= this.nextScanM) {
      // One scan per tick at most: the gauge shows the last pitch passed, as a
      // real live variable would when the band moves faster than it is read.
      const atM = Math.floor(this.lengthDoneM / this.pitchM + 1e-9) * this.pitchM;
      this.scan(atM);
      this.nextScanM = atM + this.pitchM;
    }
    if (this.lengthDoneM >= this.rollLengthM) this.enter(S.Completing, nowMs);
  }

  scan(atM) {
    const dead = this.fault("dead_gauge");
    if (dead !== undefined && atM >= dead.at_m) return;
    const nan = this.fault("nan_gauge");
    const nanHere = nan !== undefined && atM >= nan.at_m && atM < nan.at_m + nan.length_m;
    const s = this.settings;
    // thickness = rate x power x passes / web speed, 1 % thinner at the edges, +/-0.5 % noise
    const nominalUm = (this.rate * this.actualPowerKw * s.passes) / s.webSpeedMMin;
    const lanes = new Array(LANES);
    for (let lane = 0; lane < LANES; lane += 1) {
      const x = (lane - (LANES - 1) / 2) / ((LANES - 1) / 2);
      const profile = 1 - 0.01 * x * x;
      const noise = 1 + 0.01 * (this.random() - 0.5);
      lanes[lane] = nanHere && lane < nan.lanes ? NaN : nominalUm * profile * noise;
    }
    this.lanesUm = lanes;
  }

  expireFaults(nowMs) {
    this.faults = this.faults.filter(
      (f) => f.seconds === undefined || !Number.isFinite(f.seconds) || nowMs - f.sinceMs < f.seconds * 1000,
    );
  }
}

module.exports = { Machine, STATE, CMD, UNKNOWN_STATE_NUMBER };
