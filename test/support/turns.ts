/**
 * How many turns the event loop took while `work` ran: one a check phase (setImmediate). Work that
 * holds the loop until it is done lets none through; work cut into turns, or done on another
 * thread, lets it turn meanwhile.
 */
export async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let turning = true;
  const turn = () => {
    turns++;
    if (turning) setImmediate(turn);
  };
  setImmediate(turn);
  try {
    return { result: await work(), turns };
  } finally {
    turning = false;
  }
}
