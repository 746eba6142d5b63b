import type { Context } from 'hono';
import { z } from 'zod';
import { ProjectId, storableText } from '../../src/event/schema.js';
import { requireProjects } from '../../src/auth/scope.js';
import { ApiError, badRequest, notFound, quoteInput } from '../../src/http/errors.js';
import type { ExactMetrics, Project, ProjectCursor } from '../../src/store/types.js';
import { NoQuery, once } from '../../src/http/query.js';
import type { ReportingApi, ReportingDeps, ReportingEnv } from '../app.js';
import { jsonBody } from '../body.js';
import { ApiMetrics, apiMetrics, ZERO_METRICS } from '../metrics.js';
import { exactJsonAnswer } from '../json.js';
import { cursorParam, encodeCursor, limitParam, tzParam } from '../params.js';
import { monthByProject, monthOf } from './stats.js';

const ProjectChanges = z.strictObject({
  name: storableText().trim().min(1, 'must not be empty').max(200).optional(),
  description: storableText().max(2000).optional(),
  archived: z.boolean().optional(),
});

const quoted = (ids: string[]) => ids.map((id) => `"${id}"`).join(', ');

const PinOrder = z.strictObject({
  order: z.array(ProjectId).superRefine((ids, ctx) => {
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (twice.length) ctx.addIssue({ code: 'custom', message: `lists ${quoted([...new Set(twice)])} more than once` });
  }),
});

function apiProject(p: Project, month: ExactMetrics | undefined) {
  return {
    id: p.id, name: p.name, description: p.description, archived: p.archived, pinned: p.pinned, pin_order: p.pin_order,
    created_at: p.created_at, updated_at: p.updated_at, current_month: apiMetrics(month ?? ZERO_METRICS),
  };
}

const IdParams = z.strictObject({ id: ProjectId.meta({ description: 'The project id events name.', example: 'atlas' }) });
const TzQuery = z.strictObject({ tz: tzParam });
const ListQuery = z.strictObject({
  archived: once(z.enum(['true', 'false'], { error: (issue) => `${quoteInput(issue.input)} is not true or false` })).default('false').meta({ description: 'Include archived projects.', example: 'true' }),
  tz: tzParam,
  q: once(z.string().max(256, 'at most 256 characters')).optional().meta({ description: 'Only projects whose id or name contains this, ignoring case.', example: 'atl' }),
  limit: limitParam(100, 1000, 'Projects per page.'),
  cursor: cursorParam<ProjectCursor>((place) => {
    const p = place as { pin?: unknown; name?: unknown; id?: unknown } | null;
    if (typeof p !== 'object' || p === null) return null;
    if (Number.isSafeInteger(p.pin)) return { pinOrder: p.pin as number };
    return typeof p.name === 'string' && typeof p.id === 'string' ? { name: p.name, id: p.id } : null;
  }),
});

const ApiProject = z.object({
  id: z.string(), name: z.string(), description: z.string(), archived: z.boolean(), pinned: z.boolean(),
  pin_order: z.number().int().nullable().describe('1 for the first pinned project; null when not pinned'),
  created_at: z.string(), updated_at: z.string(),
  current_month: ApiMetrics.describe('month-to-date figures, as in /v1/stats/current-month'),
});
const OneProject = ApiProject.extend({ month: z.string().describe('YYYY-MM') });
const ProjectList = z.object({
  month: z.string().describe('YYYY-MM'),
  projects: z.array(ApiProject),
  next_cursor: z.string().nullable().describe('pass it as `cursor` for the next page; null on the last one'),
});

/** Where a page of the list ended, in the list's order: a pinned project's place, else its name and id. */
const placeOf = (p: Project) => (p.pinned ? { pin: p.pin_order } : { name: p.name, id: p.id });

/**
 * The projects API: list, read, create or update, pin, unpin and reorder the pins. Each project
 * carries its month-to-date figures (UTC month, or `tz`), the same as /v1/stats/current-month.
 * Writes need the admin role; a key scoped to projects only sees and changes those.
 */
export function registerProjects(api: ReportingApi, deps: ReportingDeps): void {

  /** Projects with their month-to-date figures, read with the caller's scope. */
  async function withMonth(c: Context<ReportingEnv>, projects: Project[], zone: string) {
    const month = monthOf(deps.now(), zone);
    const mtd = await monthByProject(c.var.store, month, { projects: projects.map((p) => p.id) });
    const byProject = new Map(mtd.projects.map((p) => [p.project, p.metrics]));
    return { month: month.month, projects: projects.map((p) => apiProject(p, byProject.get(p.id))) };
  }

  async function answerOne(c: Context<ReportingEnv>, project: Project | null, id: string, zone: string, status: 200 | 201 = 200) {
    if (!project) throw notFound(`id: no project "${id}"`);
    const { month, projects } = await withMonth(c, [project], zone);
    return exactJsonAnswer(c, { month, ...projects[0]! } satisfies z.infer<typeof OneProject>, status);
  }

  const one = { description: 'The project', schema: OneProject };
  const write = { tag: 'projects', role: 'admin', params: IdParams, query: TzQuery, errors: [415] } as const;

  api.route({
    method: 'get', path: '/v1/projects', tag: 'projects', role: 'read', query: ListQuery,
    summary: 'Projects, pinned first by pin order, then by name ignoring case (then id), a page at a time',
    responses: { 200: { description: 'The projects the key may read', schema: ProjectList } },
  }, async (c, { archived, tz, q, limit, cursor }) => {
    const projects = await c.var.store.listProjects({ includeArchived: archived === 'true', ids: null, search: q, after: cursor, limit: limit + 1 });
    const more = projects.length > limit;
    if (more) projects.pop();
    const next = more ? encodeCursor(placeOf(projects[projects.length - 1]!)) : null;
    return exactJsonAnswer(c, { ...(await withMonth(c, projects, tz)), next_cursor: next } satisfies z.infer<typeof ProjectList>);
  });

  // Registered before /v1/projects/:id so that "pins" is never taken for a project id.
  api.route({
    method: 'put', path: '/v1/projects/pins', tag: 'projects', role: 'admin', query: NoQuery,
    summary: 'Reorder the pinned projects (exactly the pinned set, in one transaction)',
    body: { schema: PinOrder, example: { order: [] } },
    responses: { 200: { description: 'The new order', schema: z.object({ order: z.array(z.string()) }) } },
  }, async (c) => {
    const { order } = await jsonBody(c, deps.bodies, PinOrder);
    requireProjects(c.var.principal, order, 'reorder');
    const mismatch = await c.var.store.reorderPins(order);
    if (mismatch) {
      // A key scoped to projects is not told which other projects are pinned.
      const scope = c.var.principal.projects;
      const missing = scope === null ? mismatch.missing : mismatch.missing.filter((id) => scope.includes(id));
      const parts = [
        missing.length ? `pinned but missing: ${quoted(missing)}` : '',
        mismatch.unexpected.length ? `not pinned: ${quoted(mismatch.unexpected)}` : '',
      ].filter(Boolean);
      throw badRequest(`order: must list exactly the pinned projects; ${parts.join('; ') || 'other projects are pinned too'}`);
    }
    return c.json({ order });
  });

  api.route({
    method: 'get', path: '/v1/projects/:id', tag: 'projects', role: 'read', params: IdParams, query: TzQuery,
    summary: 'One project', responses: { 200: one }, errors: [404],
  }, async (c, { tz }, { id }) => {
    requireProjects(c.var.principal, [id], 'read');
    return answerOne(c, await c.var.store.getProject(id), id, tz);
  });

  api.route({
    ...write, method: 'put', path: '/v1/projects/:id', summary: 'Create or update a project',
    body: { schema: ProjectChanges, example: { name: 'Atlas', description: 'The planning agents' } },
    responses: { 200: { ...one, description: 'Updated' }, 201: { ...one, description: 'Created' } },
  }, async (c, { tz }, { id }) => {
    requireProjects(c.var.principal, [id], 'change');
    const { project, created } = await c.var.store.saveProject(id, await jsonBody(c, deps.bodies, ProjectChanges));
    return answerOne(c, project, id, tz, created ? 201 : 200);
  });

  api.route({
    ...write, method: 'post', path: '/v1/projects/:id/pin', summary: 'Pin a project at the end of the order',
    responses: { 200: one }, errors: [404, 409],
  }, async (c, { tz }, { id }) => {
    requireProjects(c.var.principal, [id], 'change');
    const project = await c.var.store.getProject(id);
    if (project?.archived) throw new ApiError(409, 'conflict', `id: project "${id}" is archived; unarchive it before pinning`);
    return answerOne(c, project && (await c.var.store.setPinned(id, true)), id, tz);
  });

  api.route({
    ...write, method: 'delete', path: '/v1/projects/:id/pin', summary: 'Unpin a project',
    responses: { 200: one }, errors: [404, 415],
  }, async (c, { tz }, { id }) => {
    requireProjects(c.var.principal, [id], 'change');
    return answerOne(c, await c.var.store.setPinned(id, false), id, tz);
  });
}
