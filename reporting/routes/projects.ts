import type { Context } from 'hono';
import { z } from 'zod';
import { ProjectId } from '../../src/event/schema.js';
import { requireProjects } from '../../src/auth/scope.js';
import { requireRole } from '../../src/http/auth.js';
import { ApiError, badRequest, notFound } from '../../src/http/errors.js';
import type { Metrics, Project } from '../../src/store/types.js';
import type { ReportingApp, ReportingDeps, ReportingEnv } from '../app.js';
import { jsonBody } from '../body.js';
import { apiMetrics, ZERO_METRICS } from '../metrics.js';
import { parseZone, rejectUnknownParams, singleParam } from '../params.js';
import { monthToDate } from './stats.js';

const ProjectChanges = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200).optional(),
  description: z.string().max(2000).optional(),
  archived: z.boolean().optional(),
});

const quoted = (ids: string[]) => ids.map((id) => `"${id}"`).join(', ');

const PinOrder = z.strictObject({
  order: z.array(ProjectId).superRefine((ids, ctx) => {
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (twice.length) ctx.addIssue({ code: 'custom', message: `lists ${quoted([...new Set(twice)])} more than once` });
  }),
});

function apiProject(p: Project, month: Metrics | undefined) {
  return {
    id: p.id, name: p.name, description: p.description, archived: p.archived, pinned: p.pinned, pin_order: p.pin_order,
    created_at: p.created_at, updated_at: p.updated_at, current_month: apiMetrics(month ?? ZERO_METRICS),
  };
}

function projectIdParam(value: string): string {
  const result = ProjectId.safeParse(value);
  if (!result.success) throw badRequest(`id: ${result.error.issues[0]!.message}`);
  return result.data;
}

/**
 * The projects API: list, read, create or update, pin, unpin and reorder the pins. Each project
 * carries its month-to-date figures (UTC month, or `tz`), the same as /v1/stats/current-month.
 * Writes need the admin role; a key scoped to projects only sees and changes those.
 */
export function registerProjects(app: ReportingApp, deps: ReportingDeps): void {
  const admin = requireRole(deps.keys, 'admin');

  /** Projects with their month-to-date figures, read with the caller's scope. */
  async function withMonth(c: Context<ReportingEnv>, projects: Project[]) {
    const mtd = await monthToDate(c.var.store, deps.now(), parseZone(c));
    const byProject = new Map(mtd.projects.map((p) => [p.project, p.metrics]));
    return { month: mtd.month, projects: projects.map((p) => apiProject(p, byProject.get(p.id))) };
  }

  /** The path's project, checked against the key's scope. */
  function scopedId(c: Context<ReportingEnv>, verb: string): string {
    const id = projectIdParam(c.req.param('id') ?? '');
    requireProjects(c.var.principal, [id], verb);
    return id;
  }

  async function answerOne(c: Context<ReportingEnv>, project: Project | null, id: string, status: 200 | 201 = 200) {
    if (!project) throw notFound(`id: no project "${id}"`);
    const { month, projects } = await withMonth(c, [project]);
    return c.json({ month, ...projects[0]! }, status);
  }

  app.get('/v1/projects', async (c) => {
    rejectUnknownParams(c, ['archived', 'tz']);
    const archived = singleParam(c, 'archived') ?? 'false';
    if (archived !== 'true' && archived !== 'false') throw badRequest(`archived: "${archived}" is not true or false`);
    const projects = await c.var.store.listProjects({ includeArchived: archived === 'true', ids: null });
    return c.json(await withMonth(c, projects));
  });

  // Registered before /v1/projects/:id so that "pins" is never taken for a project id.
  app.put('/v1/projects/pins', admin, async (c) => {
    const { order } = await jsonBody(c, PinOrder);
    requireProjects(c.var.principal, order, 'reorder');
    const mismatch = await c.var.store.reorderPins(order);
    if (mismatch) {
      const parts = [
        mismatch.missing.length ? `pinned but missing: ${quoted(mismatch.missing)}` : '',
        mismatch.unexpected.length ? `not pinned: ${quoted(mismatch.unexpected)}` : '',
      ].filter(Boolean);
      throw badRequest(`order: must list exactly the pinned projects; ${parts.join('; ')}`);
    }
    return c.json({ order });
  });

  app.get('/v1/projects/:id', async (c) => {
    rejectUnknownParams(c, ['tz']);
    const id = scopedId(c, 'read');
    return answerOne(c, await c.var.store.getProject(id), id);
  });

  app.put('/v1/projects/:id', admin, async (c) => {
    const id = scopedId(c, 'change');
    const { project, created } = await c.var.store.saveProject(id, await jsonBody(c, ProjectChanges));
    return answerOne(c, project, id, created ? 201 : 200);
  });

  app.post('/v1/projects/:id/pin', admin, async (c) => {
    const id = scopedId(c, 'change');
    const project = await c.var.store.getProject(id);
    if (project?.archived) throw new ApiError(409, 'conflict', `id: project "${id}" is archived; unarchive it before pinning`);
    return answerOne(c, project && (await c.var.store.setPinned(id, true)), id);
  });

  app.delete('/v1/projects/:id/pin', admin, async (c) => {
    const id = scopedId(c, 'change');
    return answerOne(c, await c.var.store.setPinned(id, false), id);
  });
}
