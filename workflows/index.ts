/** Every workflow the worker runs, re-exported from its own file. */
export {};
