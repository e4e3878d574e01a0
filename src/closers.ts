/** Things a process or a test stack started, stopped in reverse order; one failing stop does not block the rest. */
export class Closers {
  #items: Array<{ close: () => Promise<unknown>; name: string }> = [];

  push(close: () => Promise<unknown>, name = 'part'): void {
    this.#items.push({ close, name });
  }

  /** `push` with the name first, where the name is what a reader looks for. */
  add(name: string, close: () => Promise<unknown>): void {
    this.push(close, name);
  }

  async close(onError?: (err: unknown, name: string) => void): Promise<void> {
    const items = this.#items.reverse();
    this.#items = [];
    for (const { close, name } of items) {
      try {
        await close();
      } catch (err) {
        onError?.(err, name);
      }
    }
  }
}
