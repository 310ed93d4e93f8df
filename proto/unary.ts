// One unary method of a generated service definition (ts-proto's `XxxService.method`), as a
// value: its path and its (de)serialisers fix the request and response types, so a caller that
// names the method cannot choose other types. grpc-js's Client.makeUnaryRequest runs it.
import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';

export interface UnaryMethod<Req, Res> {
  readonly path: string;
  readonly requestStream: false;
  readonly responseStream: false;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
}

/** Calls `method` on `client` (any client of the same channel), with a deadline. */
export function callUnary<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, req: NoInfer<Req>, deadline: Date, metadata = new Metadata()): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, req, metadata, { deadline }, (err: ServiceError | null, res?: Res) =>
      err ? reject(err) : res === undefined ? reject(new Error(`${method.path}: empty answer`)) : resolve(res),
    );
  });
}
