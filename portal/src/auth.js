// Sign-in with oidc-client-ts: authorization code + PKCE (S256), tokens in sessionStorage, renewal with the
// refresh token (rotated by the provider), sign-out through the provider's end_session_endpoint.
//
// Renewal is on demand rather than on a timer: before each API call when the access token is about to
// expire, when it expires (the library's accessTokenExpired event), and once after a 401. A refresh that
// the provider refuses (refresh token expired or revoked) ends the session: the app shows "Sua sessão
// expirou" and the order form's draft stays in sessionStorage for after the next sign-in.
import { UserManager, WebStorageStateStore } from "oidc-client-ts";
import { jwtDecode } from "jwt-decode";
import { navigate } from "./router.js";

const RENEW_MARGIN_SECONDS = 2;
let manager = null;
let renewing = null;
const listeners = new Set();
let state = { status: "loading", user: null };

function publish(next) {
  state = next;
  for (const fn of listeners) fn(state);
}

export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function session() {
  return state;
}

export function createAuth(config) {
  const oidc = config.oidc;
  manager = new UserManager({
    authority: oidc.authority,
    client_id: oidc.client_id,
    redirect_uri: oidc.redirect_uri,
    post_logout_redirect_uri: oidc.post_logout_redirect_uri,
    scope: oidc.scope,
    response_type: "code",
    automaticSilentRenew: false,
    loadUserInfo: false,
    monitorSession: false,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
  manager.events.addAccessTokenExpired(() => {
    renew().catch(() => {});
  });
  return manager;
}

/** Called once at start-up: finish a redirect back from the provider, or load the stored user. */
export async function startSession(callbackPath) {
  if (window.location.pathname === callbackPath) {
    try {
      const user = await manager.signinRedirectCallback();
      const returnTo = (user.state && user.state.returnTo) || "/portal/";
      publish({ status: "signed-in", user });
      navigate(returnTo, { replace: true });
    } catch (error) {
      navigate("/portal/", { replace: true });
      publish({ status: "anonymous", user: null, error: "Não foi possível concluir a entrada. Tente de novo." });
    }
    return;
  }
  const user = await manager.getUser();
  if (!user) {
    publish({ status: "anonymous", user: null });
  } else if (user.expired && !user.refresh_token) {
    publish({ status: "expired", user: null });
  } else {
    publish({ status: "signed-in", user });
    if (user.expired) await renew().catch(() => {});
  }
}

export function signIn(returnTo = window.location.pathname + window.location.search) {
  return manager.signinRedirect({ state: { returnTo } });
}

export async function signOut() {
  const user = await manager.getUser();
  await manager.removeUser();
  return manager.signoutRedirect({ id_token_hint: user && user.id_token ? user.id_token : undefined });
}

/** Refresh the access token once (concurrent callers share the attempt); a refusal ends the session. */
export function renew() {
  if (!renewing) {
    renewing = manager.signinSilent()
      .then((user) => {
        if (!user) throw new Error("no user");
        publish({ status: "signed-in", user });
        return user;
      })
      .catch(async (error) => {
        await manager.removeUser().catch(() => {});
        publish({ status: "expired", user: null });
        throw error;
      })
      .finally(() => { renewing = null; });
  }
  return renewing;
}

/** An access token good for the next few seconds, renewing first when needed. */
export async function accessToken() {
  let user = state.user;
  if (!user) throw new SessionExpired();
  if (user.expires_in !== undefined && user.expires_in < RENEW_MARGIN_SECONDS) user = await renew();
  return user.access_token;
}

export class SessionExpired extends Error {}

/** The access token's claims that shape the screens (areas, scopes); AME itself enforces them. */
export function claims() {
  const user = state.user;
  if (!user) return { areas: [], scopes: [], name: "" };
  let payload = {};
  try {
    payload = jwtDecode(user.access_token);
  } catch {
    payload = {};
  }
  const scopes = String(payload.scope || user.scope || "").split(/\s+/).filter(Boolean);
  const areas = Array.isArray(payload.areas) ? payload.areas : [];
  const name = (user.profile && (user.profile.name || user.profile.preferred_username)) || payload.name || "";
  return { areas, scopes, name };
}
