/**
 * A small Microsoft Graph client on the shared HTTP core, for the few reads the stack and its pipelines make
 * (tenant policies, the credentials of the stack's own applications). Reads only; results validated by the
 * caller's schema; lists follow `@odata.nextLink` within Graph only, for a bounded number of pages.
 */
import type { TokenCredential } from "@azure/core-auth";
import { z } from "zod";
import { deployerCredential } from "./credentials";
import { HttpClient, type HttpClientOptions } from "./http";

export const GRAPH_URL = "https://graph.microsoft.com/v1.0";
export const GRAPH_SCOPE = "https://graph.microsoft.com/.default";
/** Pages read from one list before giving up: 50 x Graph's default page size covers any stack's objects. */
export const MAX_GRAPH_PAGES = 50;

export interface GraphClientOptions extends Pick<
  HttpClientOptions,
  "timeoutMs" | "deadlineMs" | "maxRetries" | "agent" | "transport" | "now"
> {
  /** Default {@link GRAPH_URL}; another cloud's Graph, or an emulator. */
  readonly baseUrl?: string;
  /** Default: the deployer's DefaultAzureCredential. */
  readonly credential?: TokenCredential;
}

type Query = Readonly<Record<string, string | number | undefined>>;

const pageSchema = z.looseObject({
  value: z.array(z.unknown()),
  "@odata.nextLink": z.string().optional(),
});

export class GraphClient {
  private readonly http: HttpClient;

  constructor(options: GraphClientOptions = {}) {
    this.http = new HttpClient({
      ...options,
      baseUrl: options.baseUrl ?? GRAPH_URL,
      credential: options.credential ?? deployerCredential(),
      scope: GRAPH_SCOPE,
    });
  }

  /** `GET <path>`, validated against `schema` (`what` names the shape in errors). */
  async get<T>(path: readonly string[], schema: z.ZodType<T>, what: string, query?: Query): Promise<T> {
    const response = await this.http.request("GET", path, { query });
    return this.http.parse(response, schema, what);
  }

  /** Every item of a collection, each validated against `item`, across `@odata.nextLink` pages. */
  async list<T>(path: readonly string[], item: z.ZodType<T>, what: string, query?: Query): Promise<T[]> {
    const schema = pageSchema.extend({ value: z.array(item) });
    const items: T[] = [];
    let response = await this.http.request("GET", path, { query });
    for (let page = 1; ; page++) {
      const parsed = this.http.parse(response, schema, `a page of ${what} ({value: [...]})`);
      items.push(...parsed.value);
      const next = parsed["@odata.nextLink"];
      if (next === undefined) {
        return items;
      }
      if (page >= MAX_GRAPH_PAGES) {
        throw new Error(
          `${what}: more than ${MAX_GRAPH_PAGES} pages at ${response.url}; refusing to read further`,
        );
      }
      response = await this.http.requestUrl("GET", next);
    }
  }
}
