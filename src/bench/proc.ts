/** CPU and memory of this process (process.cpuUsage / memoryUsage) and of another one (/proc/<pid>). */
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

export const selfCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Samples RSS of this process and of `serverPid` every `everyMs`; `window()` gives peaks since the last call. */
export class ResourceSampler {
  #timer: NodeJS.Timeout | undefined;
  #selfPeak = 0;
  #serverPeak = 0;
  #cpu0 = { self: 0, server: 0 };

  constructor(
    private readonly serverPid: number | undefined,
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

  sample(): void {
    this.#selfPeak = Math.max(this.#selfPeak, process.memoryUsage.rss());
    if (this.serverPid !== undefined) {
      const rss = procMemory(this.serverPid).rss;
      if (Number.isFinite(rss)) this.#serverPeak = Math.max(this.#serverPeak, rss);
    }
  }

  reset(): void {
    this.#selfPeak = process.memoryUsage.rss();
    this.#serverPeak = this.serverPid !== undefined ? procMemory(this.serverPid).rss || 0 : 0;
    this.#cpu0 = {
      self: selfCpuSeconds(),
      server: this.serverPid !== undefined ? procCpuSeconds(this.serverPid) : Number.NaN,
    };
  }

  /** CPU seconds and peak RSS since the last reset, then resets. */
  window(): { selfCpuS: number; serverCpuS: number; selfPeakRss: number; serverPeakRss: number } {
    this.sample();
    const out = {
      selfCpuS: selfCpuSeconds() - this.#cpu0.self,
      serverCpuS:
        this.serverPid !== undefined ? procCpuSeconds(this.serverPid) - this.#cpu0.server : Number.NaN,
      selfPeakRss: this.#selfPeak,
      serverPeakRss: this.#serverPeak,
    };
    this.reset();
    return out;
  }
}
