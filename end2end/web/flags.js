// A page on its own origin reading Rollgate flags the way a web app would: the OpenFeature web SDK with the
// OFREP web provider and a frontend token. `?baseUrl=...&token=...&flags=a,b` says where and what.
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

const params = new URLSearchParams(location.search);
const flags = (params.get('flags') ?? '').split(',').filter(Boolean);
const status = document.querySelector('[data-testid="provider-status"]');
const list = document.getElementById('flags');

function render() {
  const client = OpenFeature.getClient();
  list.replaceChildren(...flags.map((key) => {
    const details = client.getBooleanDetails(key, false);
    const item = document.createElement('li');
    item.dataset.testid = `flag-${key}`;
    item.textContent = details.errorCode ? `${key}: ${details.errorCode}` : `${key}: ${details.value} (${details.variant})`;
    return item;
  }));
}

for (const [event, name] of [
  [ProviderEvents.Ready, 'ready'],
  [ProviderEvents.Stale, 'stale'],
  [ProviderEvents.ConfigurationChanged, 'ready'],
  [ProviderEvents.Reconciling, 'reconciling'],
]) {
  OpenFeature.addHandler(event, () => {
    status.textContent = name;
    render();
  });
}
OpenFeature.addHandler(ProviderEvents.Error, (details) => {
  status.textContent = `error: ${details?.message ?? 'unknown'}`;
  render();
});

// What an app does when its visitor signs in: a new context, which the provider evaluates again at once.
window.setVisitor = (targetingKey) => OpenFeature.setContext({ targetingKey });

await OpenFeature.setContext({ targetingKey: 'visitor-1' });
try {
  await OpenFeature.setProviderAndWait(new OFREPWebProvider({
    baseUrl: params.get('baseUrl'),
    headers: [['Authorization', `Bearer ${params.get('token')}`]],
    // Straight from the network, so that the test sees what Rollgate answers now.
    cacheMode: 'disabled',
  }));
} catch (err) {
  status.textContent = `error: ${err?.message ?? err}`;
}
render();
