/** A progress bar on stderr: redrawn in place on a TTY, a plain line every few seconds otherwise. */

export class Progress {
  #label = '';
  #total = 0;
  #started = 0;
  #lastDraw = 0;
  readonly #tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.#tty = Boolean(out.isTTY);
  }

  /** A step without a count (startup, fetching histories). */
  note(text: string): void {
    this.clear();
    this.out.write(`bench: ${text}\n`);
  }

  phase(label: string, total: number): void {
    this.clear();
    this.#label = label;
    this.#total = total;
    this.#started = Date.now();
    this.#lastDraw = 0;
    if (!this.#tty) this.out.write(`bench: ${label} …\n`);
  }

  /** `done` of the phase's total (time units or payments); `extra` is shown after the bar. */
  tick(done: number, extra = ''): void {
    const now = Date.now();
    if (this.#tty) {
      if (now - this.#lastDraw < 100) return;
      this.#lastDraw = now;
      const frac = this.#total > 0 ? Math.min(1, done / this.#total) : 0;
      const width = 28;
      const filled = Math.round(frac * width);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      const line = `${this.#label.padEnd(28)} ${bar} ${String(Math.round(frac * 100)).padStart(3)}% ${extra}`;
      const cols = this.out.columns ?? 120;
      this.out.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
    } else if (now - this.#lastDraw >= 5000) {
      this.#lastDraw = now;
      this.out.write(`bench:   ${this.#label} ${Math.round(done)}/${Math.round(this.#total)} ${extra}\n`);
    }
  }

  done(summary: string): void {
    this.clear();
    const secs = ((Date.now() - this.#started) / 1000).toFixed(1);
    this.out.write(`bench: ${this.#label}: ${summary} (${secs} s)\n`);
    this.#label = '';
  }

  clear(): void {
    if (this.#tty && this.#label) this.out.write('\r\x1b[K');
  }
}
