import { defineProcess } from '@psi/engines';

/**
 * A job run by an external script. "start-script" launches it (PSI service step); the instance
 * then waits at "script-running" until the script reports — `done` or `failed`, an answer sent
 * with its callback token — or until PSI's deadline for a runaway script takes `timed-out`,
 * which stops the script ("stop-script", another service step). Each end step names the branch.
 */
export const scriptJobProcess = defineProcess({
  id: 'script-job',
  start: 'start-script',
  steps: {
    'start-script': { kind: 'service', next: 'script-running' },
    'script-running': {
      kind: 'wait',
      transitions: {
        done: 'script-succeeded',
        failed: 'script-failed',
        'timed-out': 'stop-script',
      },
    },
    'stop-script': { kind: 'service', next: 'script-timed-out' },
    'script-succeeded': { kind: 'end' },
    'script-failed': { kind: 'end' },
    'script-timed-out': { kind: 'end' },
  },
});

/** The wait state a script's callback token is good for. */
export const SCRIPT_RUNNING = 'script-running';
