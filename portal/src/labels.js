// The API's codes in plain Portuguese. An unknown code is shown as it is, never hidden.

export const STATUS = {
  RECEIVED: "Recebida",
  PROCESSING: "Em processamento",
  QUORUM_MET: "Quórum atingido",
  NO_QUORUM: "Sem quórum",
  FAILED: "Falhou",
};
export const TERMINAL = new Set(["QUORUM_MET", "NO_QUORUM", "FAILED"]);

export const ROLE = { REQUESTER: "Requisitante", GUARANTOR: "Garantidor" };
export const PERSON_TYPE = { PJ: "Pessoa jurídica (CNPJ)", PF: "Pessoa física (CPF)" };

export const PARTY_REASON = {
  NO_REPRESENTATIVES: "A empresa não tem representantes com poder para este ato no Poderes.",
  ALL_RESTRICTED: "Todos os representantes têm ressalvas que os impedem de assinar.",
  NO_ACTIVE_OPERATOR: "Nenhum representante tem operador ativo com acesso à conta no Cadastro Único.",
  NO_RULE_SATISFIED: "Nenhuma regra de assinatura pode ser cumprida com as pessoas que podem assinar.",
  PERSON_NOT_FOUND: "A pessoa não foi encontrada no cadastro de Pessoas.",
};

export const PERSON_REASON = {
  MAX_AMOUNT: "valor da ordem acima do limite da ressalva",
  BLOCKED: "representante bloqueado",
  EXPIRED: "mandato vencido",
  NOT_YET_VALID: "mandato ainda não vigente",
  UNKNOWN_RESTRICTION: "ressalva desconhecida",
  JOINT_ONLY: "só assina em conjunto",
  NOT_FOUND: "não encontrado no cadastro de Pessoas",
  NO_OPERATOR: "sem operador ativo no Cadastro Único",
  NO_ACCOUNT_ACCESS: "sem acesso à conta no Cadastro Único",
  UNAVAILABLE: "indisponível (simulação)",
};

export const RULE_PROBLEM = {
  NOT_ENOUGH_SIGNERS: "faltam assinantes",
  EMPTY_RULE: "regra sem exigências",
};

export const DELIVERY_STATUS = {
  DELIVERED: "entregue",
  PENDING: "pendente",
  SENT: "enviada",
  FAILED: "falhou",
  DEAD_LETTERED: "desistiu após as tentativas",
  RETRYING: "tentando de novo",
};

export const label = (table, code) => (code in table ? table[code] : code);
export const reasonsText = (reasons) => (reasons || []).map((r) => label(PERSON_REASON, r)).join("; ");
