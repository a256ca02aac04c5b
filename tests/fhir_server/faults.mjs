// Fault mode of the test FHIR server: off unless a test switches it on. It reproduces what a
// real Medplum server does under load or by design (the repository's SERVERS.md), around the
// untouched engine, so the adapter's handling of it is tested end to end over HTTP.
//
//   POST   /__faults  {...}   switch faults on (replaces the previous set; counters restart)
//   GET    /__faults          the faults now on, their counters, and what was refused
//   DELETE /__faults          everything off: a faithful pass-through again
//
// The control path is outside /fhir/R4, so no FHIR client reaches it by accident. Faults:
//
//   refuse: [{match, status = 400, diagnostics, expression}]
//       A write whose JSON contains `match` is refused with `status` and an OperationOutcome:
//       inside an HTTP 200 for a transaction or batch entry (the other entries are processed:
//       Medplum's transactions are not atomic), as the HTTP status for a plain request.
//   entryRateLimit: {after = 0, count}
//       After `after` more write entries were taken, the next `count` write entries of
//       transactions/batches are answered "429" inside the HTTP 200, with a RateLimit header
//       on the response (Medplum's per-client budget running out in the middle of a Bundle).
//   httpRateLimit: {count}
//       The next `count` requests under /fhir/R4 are refused whole: HTTP 429, header
//       `RateLimit: "fhirInteractions";r=0;t=<windowSeconds>`, body
//       {"_remainingPoints":0,"_msBeforeNext":<ms>,...} (Medplum sends no Retry-After).
//   windowSeconds (default 58): the window those 429s announce.
//   refuseClientIds: true
//       A PUT to an id that does not exist is refused "400 Invalid id" (Medplum wants UUIDs
//       and does not create by update for normal projects).
//   ignoreSort: true       searches ignore `_sort` (answered in the repository's own order).
//   dropNextLinks: true    searchsets lose their next link (Bundle.total stays).
//   lastUpdated: {"Claim/id": "text"}   those resources carry that meta.lastUpdated in answers.
//   unsupportedTypes: {"Composition": 404, "DiagnosticReport": 400}
//       Every request of those types (searches, reads and writes; plain or as a batch entry)
//       is refused with that status and an OperationOutcome "Unknown resource type 'X'", code
//       not-supported: a server that does not have the type (HAPI built without it, a facade
//       over an EHR that exposes no Composition).
//
// Issue 25 (measured on a real Medplum 5.0.10 with PostgreSQL):
//   strictIsolation: {maxEntries}
//       A transaction of more than `maxEntries` entries is refused whole, HTTP 400 "Transaction
//       requires strict isolation but has too many entries" (a project with atomic
//       transactions).
//   serializationConflict: {count}
//       The next `count` transactions or batches are refused whole, HTTP 409 "could not
//       serialize access due to concurrent update" (PostgreSQL's transient serialization
//       failure).
//   htmlPage: {count, status = 200}
//       The next `count` requests are answered with a proxy's HTML error page (HTTP 200 by
//       default: a gateway that hides the failure).

const CONTROL = '/__faults';
const READS = new Set(['GET', 'HEAD']);

let faults = {};
let refused = [];

export async function control(req, res, path, body, send) {
  if (path !== CONTROL) return false;
  if (req.method === 'POST') {
    faults = structuredClone(body && typeof body === 'object' ? body : {});
    refused = [];
  } else if (req.method === 'DELETE') {
    faults = {};
    refused = [];
  } else if (req.method !== 'GET') {
    send(res, 405, { error: 'GET, POST or DELETE' });
    return true;
  }
  send(res, 200, { faults, refused });
  return true;
}

// The request URL (relative to the base) as the engine should see it.
export function url(relative) {
  if (!faults.ignoreSort || !relative.includes('?')) return relative;
  const [path, query] = relative.split('?');
  const params = new URLSearchParams(query);
  params.delete('_sort');
  const rest = params.toString();
  return rest ? `${path}?${rest}` : path;
}

// [status, body, headers] when the whole request is refused, else undefined.
export async function refuseRequest(method, relative, body, repo) {
  if (faults.httpRateLimit?.count > 0) {
    faults.httpRateLimit.count -= 1;
    refused.push({ status: 429, method, url: relative });
    return [429, rateLimitBody(), { ...rateLimitHeader(), 'Content-Type': 'application/json' }];
  }
  if (faults.htmlPage?.count > 0) {
    faults.htmlPage.count -= 1;
    refused.push({ status: faults.htmlPage.status ?? 200, method, url: relative });
    return [faults.htmlPage.status ?? 200, HTML_PAGE, { 'Content-Type': 'text/html' }];
  }
  if (isBundlePost(method, relative, body)) {
    if (faults.serializationConflict?.count > 0) {
      faults.serializationConflict.count -= 1;
      refused.push({ status: 409, method, url: relative });
      return [409, outcomeOf('could not serialize access due to concurrent update',
                             'conflict')];
    }
    const most = faults.strictIsolation?.maxEntries;
    if (body.type === 'transaction' && most !== undefined && (body.entry ?? []).length > most) {
      refused.push({ status: 400, method, url: relative, entries: body.entry.length });
      return [400, outcomeOf('Transaction requires strict isolation but has too many entries')];
    }
  }
  if (!isBundlePost(method, relative, body)) {
    const unknown = unsupportedType({ request: { method, url: relative.replace(/^\/+/, '') } });
    if (unknown) return [unknown.status, unknown.outcome];
  }
  if (READS.has(method) || isBundlePost(method, relative, body)) return undefined;
  const entry = { request: { method, url: relative.replace(/^\/+/, '') }, resource: body };
  const refusal = await refusalOf(entry, repo);
  if (!refusal) return undefined;
  return [refusal.status, refusal.outcome];
}

// For a transaction or batch: the Bundle the engine should run (without the refused
// entries), `answer` when nothing is left to run, `merge`, which puts the refused entries'
// answers back in their places, and `headers` for the response.
export async function splitBundle(method, relative, body, repo) {
  const none = { sent: body, answer: undefined, merge: (resource) => resource, headers: {} };
  if (!isBundlePost(method, relative, body) || !Object.keys(faults).length) return none;
  const answers = new Map();
  const entries = body.entry ?? [];
  for (const [index, entry] of entries.entries()) {
    const refusal = await refusalOf(entry, repo);
    if (refusal) answers.set(index, refusal);
  }
  if (!answers.size) return none;
  const kept = entries.filter((_, index) => !answers.has(index));
  const merge = (resource) => {
    if (!resource || resource.resourceType !== 'Bundle') return resource;
    const processed = [...(resource.entry ?? [])];
    resource.entry = entries.map((_, index) =>
      answers.has(index)
        ? { response: { status: String(answers.get(index).status),
                        outcome: answers.get(index).outcome } }
        : processed.shift()
    );
    return resource;
  };
  const sent = { ...body, entry: kept };
  // Nothing left to run: answer as the engine would, with only the refused entries.
  const answer = kept.length
    ? undefined
    : [{ resourceType: 'OperationOutcome', id: 'ok', issue: [] },
       { resourceType: 'Bundle', type: `${body.type}-response`, entry: [] }];
  const limited = [...answers.values()].some((answer) => answer.status === 429);
  return { sent, answer, merge, headers: limited ? rateLimitHeader() : {} };
}

// After the engine answered: the faults that change what a response says.
export function after(resource) {
  if (!resource || !Object.keys(faults).length) return;
  const visit = (found) => {
    if (!found || typeof found !== 'object') return;
    const ref = `${found.resourceType}/${found.id}`;
    if (faults.lastUpdated && ref in faults.lastUpdated && found.meta) {
      found.meta.lastUpdated = faults.lastUpdated[ref];
    }
    if (found.resourceType === 'Bundle') {
      if (faults.dropNextLinks && found.link) {
        found.link = found.link.filter((link) => link.relation !== 'next');
      }
      for (const entry of found.entry ?? []) visit(entry.resource);
    }
  };
  visit(resource);
}

async function refusalOf(entry, repo) {
  const method = String(entry?.request?.method ?? '').toUpperCase();
  const unknown = unsupportedType(entry);
  if (unknown) return unknown;
  if (READS.has(method)) return undefined;
  const text = JSON.stringify(entry);
  const rule = (faults.refuse ?? []).find((r) => r.match && text.includes(r.match));
  if (rule) {
    const diagnostics = rule.diagnostics ?? `refused by the fault mode (${rule.match})`;
    return refuse(entry, rule.status ?? 400, diagnostics, 'processing', rule.expression);
  }
  if (faults.refuseClientIds && method === 'PUT') {
    const [type, id, more] = String(entry.request.url ?? '').split('?')[0].split('/');
    if (type && id && more === undefined && !(await exists(repo, type, id))) {
      return refuse(entry, 400, 'Invalid id');
    }
  }
  const limit = faults.entryRateLimit;
  if (limit) {
    if ((limit.after ?? 0) > 0) {
      limit.after -= 1;
    } else if (limit.count > 0) {
      limit.count -= 1;
      return refuse(entry, 429, 'Too Many Requests', 'throttled');
    }
  }
  return undefined;
}

function unsupportedType(entry) {
  const type = String(entry?.request?.url ?? '').split(/[/?]/)[0];
  const status = (faults.unsupportedTypes ?? {})[type];
  if (!type || status === undefined) return undefined;
  return refuse(entry, status, `Unknown resource type '${type}'`, 'not-supported');
}

const HTML_PAGE = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n'
  + '<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n';

function outcomeOf(diagnostics, code = 'processing') {
  return { resourceType: 'OperationOutcome',
           issue: [{ severity: 'error', code, details: { text: diagnostics } }] };
}

function refuse(entry, status, diagnostics, code = 'processing', expression = undefined) {
  const request = entry?.request ?? {};
  refused.push({ status, method: request.method, url: request.url,
                 ifNoneExist: request.ifNoneExist });
  const issue = { severity: 'error', code, details: { text: diagnostics } };
  if (expression) issue.expression = expression; // as Medplum's validator: the element path
  return { status, outcome: { resourceType: 'OperationOutcome', issue: [issue] } };
}

async function exists(repo, type, id) {
  try {
    await repo.readResource(type, id);
    return true;
  } catch {
    return false;
  }
}

function isBundlePost(method, relative, body) {
  return method === 'POST' && (relative === '' || relative === '/' || relative.startsWith('?'))
    && body?.resourceType === 'Bundle' && ['transaction', 'batch'].includes(body.type);
}

function windowSeconds() {
  return faults.windowSeconds ?? 58;
}

function rateLimitHeader() {
  return { RateLimit: `"fhirInteractions";r=0;t=${windowSeconds()}` };
}

function rateLimitBody() {
  return {
    _remainingPoints: 0,
    _msBeforeNext: Math.round(windowSeconds() * 1000),
    _consumedPoints: 50100,
    _isFirstInDuration: false,
  };
}
