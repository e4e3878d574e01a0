/**
 * The bare-workflow floor of `malipo bench`: start, one activity, one signal, complete. Bundled on its
 * own (not part of workflows/), run by its own worker on its own task queue on the same server.
 */
import { condition, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';

export interface FloorActivities {
  /** Returns at once and, like Daraja's callback, signals the workflow shortly after. */
  floorStep(workflowId: string): Promise<string>;
}

export const floorSignal = defineSignal('floorDone');

const { floorStep } = proxyActivities<FloorActivities>({ startToCloseTimeout: '30 seconds' });

export async function benchFloor(): Promise<string> {
  let done = false;
  setHandler(floorSignal, () => {
    done = true;
  });
  const r = await floorStep(workflowInfo().workflowId);
  await condition(() => done);
  return r;
}
