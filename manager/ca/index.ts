// The cluster's certificate authority: root CA, join tokens, node certificates, mutual TLS.
export * from './errors.js';
export {
  createRootCA,
  createNodeKeyAndCSR,
  signNodeCertificate,
  verifyNodeCertificate,
  certificateHash,
  identityOf,
  certificateInfo,
  type CertificateInfo,
  ROLE_OU,
  type NodeIdentity,
  type NodeRoleName,
  type RootCA,
  type SignRequest,
} from './x509.js';
export { generateJoinTokens, parseJoinToken, roleForToken, rotateJoinTokens, makeJoinToken, type JoinTokens, type ParsedJoinToken } from './tokens.js';
export { NodeAuthenticator, grpcError, type CallWithAuth } from './identity.js';
export { serverCredentials, clientCredentials, pinnedRootCredentials, unverifiedCredentials, type NodeCertificates } from './credentials.js';
export { nodeCAService, newNodeId, type NodeCADeps, type NewNode } from './service.js';
export { bootstrapNode, type BootstrapOptions, type BootstrapResult } from './bootstrap.js';
export { saveNodeCertificates, loadNodeCertificates, keyMatchesCertificate, isEncryptedKeyPem, nodeKeyIsEncrypted } from './files.js';
export { RenewableCertificates, renewable } from './renewable.js';
export { nodeCertExpiryMs, DEFAULT_NODE_CERT_EXPIRY_MS, MIN_NODE_CERT_EXPIRY_MS } from './expiry.js';
