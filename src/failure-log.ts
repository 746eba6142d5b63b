import { databaseUnavailable, unavailableCause } from './store/unavailable.js';

/**
 * What a background loop that tries again (budget evaluation, notifications, the outbox) logs of
 * its failures: the first one, then nothing while the same failure repeats, and one line once it
 * works again. A database down for an hour would otherwise print a stack every few seconds and bury
 * the one line that says why. A database that cannot be used is told in one line (its code and
 * words); anything else with its stack, as it may be a fault of ours.
 */
export class FailureLog {
  private failing: string | undefined;
  private repeats = 0;

  /** `what` names the work, as a log line starts: `budgets: evaluation`. */
  constructor(private readonly what: string) {}

  failed(error: unknown): void {
    const cause = databaseUnavailable(error)
      ? unavailableCause(error)
      : String((error as Error | null)?.stack ?? error);
    if (cause === this.failing) {
      this.repeats++;
      return;
    }
    this.failing = cause;
    this.repeats = 0;
    console.error(`${this.what} failed, will try again (the same failure is logged once): ${cause}`);
  }

  /** Logs how `work` ends, and never rejects: true when it succeeded. */
  async follow(work: Promise<unknown>): Promise<boolean> {
    try {
      await work;
    } catch (error) {
      this.failed(error);
      return false;
    }
    this.succeeded();
    return true;
  }

  succeeded(): void {
    if (this.failing === undefined) return;
    console.error(`${this.what} works again${this.repeats > 0 ? `, after ${this.repeats} more failed attempts` : ''}`);
    this.failing = undefined;
  }
}
