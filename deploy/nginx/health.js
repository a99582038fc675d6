// Aggregates the three services' /health/ready into the gateway's own /health.
// Each service is asked through an internal location, in parallel; the answer names every
// service and, where the service said so, which of its dependencies (postgres, redis) failed.
const services = ['identity', 'api', 'worker'];

function parse(text) {
    try {
        return JSON.parse(text);
    } catch (e) {
        return null;
    }
}

async function aggregate(r) {
    const replies = await Promise.all(services.map(function (name) {
        return r.subrequest('/_ready/' + name).then(
            function (reply) { return { name: name, status: reply.status, body: reply.responseText }; },
            function () { return { name: name, status: 502, body: '' }; });
    }));

    let healthy = true;
    const report = {};
    for (let i = 0; i < replies.length; i++) {
        const reply = replies[i];
        const body = parse(reply.body);
        const up = reply.status === 200;
        healthy = healthy && up;
        report[reply.name] = {
            status: up ? 'Healthy' : 'Unhealthy',
            httpStatus: reply.status,
            checks: body && body.checks ? body.checks : {}
        };
        if (!up && (!body || !body.checks)) {
            report[reply.name].description = 'the service did not answer';
        }
    }

    r.headersOut['Content-Type'] = 'application/json';
    r.headersOut['Cache-Control'] = 'no-store';
    if (!healthy) {
        // Not ready: a dependency or a service does not answer; ask again after this.
        r.headersOut['Retry-After'] = '5';
    }
    r.return(healthy ? 200 : 503, JSON.stringify({ status: healthy ? 'Healthy' : 'Unhealthy', services: report }));
}

export default { aggregate };
