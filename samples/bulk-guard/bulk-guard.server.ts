import Fastify, { type FastifyInstance } from 'fastify';
import type { ProcessGuard } from '@psi/core';

/** Runs one bulk job; resolves when it is done, rejects when it fails. */
export type JobRunner = (jobId: string) => Promise<void>;

export interface BulkGuardServerOptions {
  /** How long a start holds the guard; a job that dies without stopping frees it after this. @default 600000 */
  ttlMs?: number;
  /** Name shown to whoever is refused (this node). @default `bulk-guard@<pid>` */
  owner?: string;
}

/** What GET /jobs/:id answers. */
export interface JobStatus {
  jobId: string;
  running: boolean;
  heldBy?: string;
  since?: number;
  expiresAt?: number;
  lastRun?: { outcome: 'succeeded' | 'failed'; error?: string; finishedAt: number };
}

/**
 * The bulk-job guard over HTTP: POST /jobs/:id/start answers 202 for the first start and 409
 * (with who holds it, since when) while the job runs; GET /jobs/:id tells its status. The job
 * runs in the background and the guard is released when it succeeds and when it fails.
 */
export function createBulkGuardServer(
  guard: ProcessGuard,
  jobRunner: JobRunner,
  options: BulkGuardServerOptions = {},
): FastifyInstance {
  const ttlMs = options.ttlMs ?? 600_000;
  const owner = options.owner ?? `bulk-guard@${process.pid}`;
  const lastRuns = new Map<string, NonNullable<JobStatus['lastRun']>>();
  const app = Fastify({ logger: false });

  app.post<{ Params: { id: string } }>('/jobs/:id/start', async (request, reply) => {
    const jobId = request.params.id;
    const result = await guard.start(jobId, ttlMs, owner);
    if (!result.started) {
      return reply.code(409).send({
        error: 'already running',
        jobId,
        heldBy: result.heldBy,
        since: new Date(result.since).toISOString(),
        expiresAt: new Date(result.expiresAt).toISOString(),
      });
    }
    void runInBackground(jobId, result.ownerToken);
    return reply.code(202).send({
      jobId,
      status: 'started',
      startedAt: new Date(result.startedAt).toISOString(),
      expiresAt: new Date(result.expiresAt).toISOString(),
      statusUrl: `/jobs/${encodeURIComponent(jobId)}`,
    });
  });

  app.get<{ Params: { id: string } }>('/jobs/:id', async (request) => {
    const jobId = request.params.id;
    const status = await guard.status(jobId);
    const body: JobStatus = { jobId, running: status.running };
    if (status.running)
      Object.assign(body, {
        heldBy: status.heldBy,
        since: status.since,
        expiresAt: status.expiresAt,
      });
    const lastRun = lastRuns.get(jobId);
    if (lastRun) body.lastRun = lastRun;
    return body;
  });

  async function runInBackground(jobId: string, ownerToken: string): Promise<void> {
    let outcome: NonNullable<JobStatus['lastRun']>;
    try {
      await jobRunner(jobId);
      outcome = { outcome: 'succeeded', finishedAt: Date.now() };
    } catch (error) {
      outcome = {
        outcome: 'failed',
        error: error instanceof Error ? error.message : String(error),
        finishedAt: Date.now(),
      };
    }
    // Record the outcome before releasing, so a status read after the release sees it.
    lastRuns.set(jobId, outcome);
    try {
      await guard.stop(jobId, ownerToken);
    } catch (error) {
      // Expired meanwhile and taken by someone else: theirs now; nothing to release.
      app.log.warn({ jobId, error }, 'guard was no longer ours');
    }
  }

  return app;
}
