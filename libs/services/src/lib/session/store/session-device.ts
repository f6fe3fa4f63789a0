/**
 * What a session records of the device it was made on, so its owner can recognise it in a
 * list of their sessions: the user agent (bounded), the client address (kept as
 * configured: whole, truncated to its network, or not at all), and the browser and OS
 * named from the user agent.
 */
import type { SessionData } from 'express-session';
import ipaddr from 'ipaddr.js';
import UAParser from 'ua-parser-js';

/** How much of a client address a session keeps (BODHI_SESSION_CLIENT_ADDRESS). */
export const CLIENT_ADDRESS_MODES = ['full', 'truncated', 'none'] as const;
export type ClientAddressMode = (typeof CLIENT_ADDRESS_MODES)[number];

/** Longest user agent kept: real ones are a few hundred characters; anything past is noise. */
export const MAX_USER_AGENT_LENGTH = 512;

/** Prefix lengths a truncated address keeps: a household's or a site's network, not a host. */
const TRUNCATED_PREFIX = { ipv4: 24, ipv6: 48 } as const;

/**
 * Control characters (C0, DEL and C1: Node's parser lets bytes 0x80-0x9F through as U+0080-
 * U+009F) become `?`: a user agent is attacker-chosen, and `bodhi-sessions list` prints it
 * in an admin's terminal, where a C1 CSI would start an escape sequence.
 */
const CONTROL_CHARACTERS = /\p{Cc}/gu;

export function boundedUserAgent(userAgent: string | undefined): string | undefined {
  const trimmed = userAgent?.replace(CONTROL_CHARACTERS, '?').trim();
  return trimmed ? trimmed.slice(0, MAX_USER_AGENT_LENGTH) : undefined;
}

/**
 * The address as `mode` keeps it; undefined for `none` or an address that does not parse.
 * An IPv4 address a dual-stack socket reports as `::ffff:a.b.c.d` is kept as IPv4.
 */
export function keptClientAddress(
  address: string | undefined,
  mode: ClientAddressMode,
): string | undefined {
  if (mode === 'none' || !address || !ipaddr.isValid(address)) return undefined;
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    ip = (ip as ipaddr.IPv6).toIPv4Address();
  }
  if (mode === 'full') return ip.toString();
  const prefix = TRUNCATED_PREFIX[ip.kind()];
  const keptBytes = prefix / 8;
  const masked = ip.toByteArray().map((byte, i) => (i < keptBytes ? byte : 0));
  return `${ipaddr.fromByteArray(masked).toString()}/${prefix}`;
}

export interface DeviceDescription {
  /** e.g. "Firefox 133"; undefined when the user agent names none. */
  browser?: string;
  /** e.g. "Ubuntu", "Mac OS 10.15.7". */
  os?: string;
}

const named = (part: { name?: string; version?: string }, version?: string) =>
  part.name ? [part.name, version].filter(Boolean).join(' ') : undefined;

/**
 * Descriptions by user agent. Parsing one costs 0.1–0.5 ms, a list of a user's sessions names
 * each of them, and the same few agents recur (one per browser version in use): remembered,
 * a list of 100 sessions costs its query rather than 100 parses. Bounded like a cache.
 */
const described = new Map<string, DeviceDescription>();
const MAX_DESCRIBED = 1000;

/** Browser and OS from a user agent, through ua-parser-js (maintained; new browsers land there). */
export function describeDevice(userAgent: string | undefined): DeviceDescription {
  if (!userAgent) return {};
  let description = described.get(userAgent);
  if (!description) {
    const parser = new UAParser(userAgent);
    const browser = parser.getBrowser();
    const os = parser.getOS();
    description = { browser: named(browser, browser.major), os: named(os, os.version) };
    if (described.size >= MAX_DESCRIBED) described.clear();
    described.set(userAgent, description);
  }
  return { ...description };
}

/** What a session keeps of its device, in its data and, by every save, in columns of its own. */
export interface SessionDevice {
  /** Bounded to MAX_USER_AGENT_LENGTH. */
  user_agent?: string;
  /** As BODHI_SESSION_CLIENT_ADDRESS keeps it. */
  client_address?: string;
}

declare module 'express-session' {
  interface SessionData {
    /** The device the session was logged in on; saves copy it to the `user_agent` and `client_address` columns. */
    device?: SessionDevice;
  }
}

/**
 * Records on `session` the device it is logged in on, as `mode` keeps its address: the
 * login callback calls it before the session is saved (the save writes the columns).
 */
export function recordSessionDevice(
  session: SessionData,
  device: { userAgent?: string; clientAddress?: string },
  mode: ClientAddressMode,
): void {
  const recorded: SessionDevice = {};
  const userAgent = boundedUserAgent(device.userAgent);
  const clientAddress = keptClientAddress(device.clientAddress, mode);
  if (userAgent !== undefined) recorded.user_agent = userAgent;
  if (clientAddress !== undefined) recorded.client_address = clientAddress;
  session.device = recorded;
}

/** One of a user's sessions as they see it in a list of them: never its id. */
export interface SessionSummary {
  /** Public handle: the row's key, sessionKey(sid) (SHA-256 of the id), never the id. */
  handle: string;
  /** Epoch ms; null for a row from before creation times were kept. */
  createdAt: number | null;
  /** Epoch ms of the last write of the session, moved under the touch-after throttle. */
  lastSeenAt: number | null;
  /** Epoch ms. */
  expiresAt: number;
  /** When the session ends however active it is: createdAt + the maximum lifetime. */
  maxExpiresAt: number | null;
  userAgent: string | null;
  clientAddress: string | null;
  /** Named from the user agent (describeDevice). */
  browser: string | null;
  os: string | null;
}
