/** What `run` throws (an ApiError's status, code and message), or undefined when it returns. */
export function refusal(run: () => unknown): { status: number; code: string; message: string } | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error as { status: number; code: string; message: string };
  }
}
