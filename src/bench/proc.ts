/** CPU and memory of a process from /proc/<pid>. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** User + system CPU seconds of `pid` from /proc/<pid>/stat (fields 14 and 15); NaN if unreadable. */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may contain spaces; fields after ")" start at field 3
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** VmRSS and VmHWM (peak) of `pid` in bytes from /proc/<pid>/status; NaN if unreadable. */
export function procMemory(pid: number): { rss: number; peak: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : Number.NaN;
    };
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return { rss: Number.NaN, peak: Number.NaN };
  }
}

/** CPU seconds and peak RSS of Malipo's processes and the Temporal server since the last window. */
export interface ResourceWindow {
  /** Summed over Malipo's processes. */
  malipoCpuS: number;
  serverCpuS: number;
  /** Peak of the summed RSS of Malipo's processes. */
  malipoPeakRss: number;
  /** Peak RSS of the process that runs the worker. */
  workerPeakRss: number;
  serverPeakRss: number;
  /** The rest of the machine's CPU: the simulator and the bench's own process (generator, receiver). */
  simulatorCpuS: number;
  benchCpuS: number;
}

export interface SampledPids {
  /** Malipo's processes: one (API + worker) or two (API, worker). */
  malipo: number[];
  /** The one of them that runs the worker. */
  worker: number | undefined;
  server: number | undefined;
  simulator: number | undefined;
}

const cpuOf = (pid: number | undefined) => (pid === undefined ? Number.NaN : procCpuSeconds(pid));
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const rssOf = (pid: number | undefined) => (pid === undefined ? Number.NaN : procMemory(pid).rss);

/** Samples the RSS of Malipo's processes and the server every `everyMs`; `window()` gives peaks and CPU since the last call. */
export class ResourceSampler {
  #timer: NodeJS.Timeout | undefined;
  #peak = { malipo: 0, worker: 0, server: 0 };
  #cpu0 = { malipo: 0, server: 0, simulator: 0, bench: 0 };

  constructor(
    private readonly pids: SampledPids,
    private readonly everyMs = 200,
  ) {}

  start(): void {
    this.reset();
    this.#timer = setInterval(() => this.sample(), this.everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Current RSS of the worker's process in bytes (NaN if unreadable). */
  workerRss(): number {
    return rssOf(this.pids.worker);
  }

  sample(): void {
    // one reading per process, so the worker's RSS is never above the sum that includes it
    const malipo = new Map(this.pids.malipo.map((pid) => [pid, rssOf(pid)]));
    const worker = this.pids.worker;
    const now = {
      malipo: [...malipo.values()].reduce((sum, rss) => sum + rss, 0),
      worker: worker === undefined ? Number.NaN : (malipo.get(worker) ?? rssOf(worker)),
      server: rssOf(this.pids.server),
    };
    for (const k of ['malipo', 'worker', 'server'] as const) {
      if (Number.isFinite(now[k])) this.#peak[k] = Math.max(this.#peak[k], now[k]);
    }
  }

  reset(): void {
    this.#peak = { malipo: 0, worker: 0, server: 0 };
    this.sample();
    this.#cpu0 = {
      malipo: this.malipoCpu(),
      server: cpuOf(this.pids.server),
      simulator: cpuOf(this.pids.simulator),
      bench: selfCpu(),
    };
  }

  /** CPU seconds and peak RSS since the last reset, then resets. */
  window(): ResourceWindow {
    this.sample();
    const out: ResourceWindow = {
      malipoCpuS: this.malipoCpu() - this.#cpu0.malipo,
      serverCpuS: cpuOf(this.pids.server) - this.#cpu0.server,
      malipoPeakRss: this.#peak.malipo,
      workerPeakRss: this.#peak.worker,
      serverPeakRss: this.#peak.server,
      simulatorCpuS: cpuOf(this.pids.simulator) - this.#cpu0.simulator,
      benchCpuS: selfCpu() - this.#cpu0.bench,
    };
    this.reset();
    return out;
  }

  private malipoCpu(): number {
    return this.pids.malipo.reduce((sum, pid) => sum + cpuOf(pid), 0);
  }
}
