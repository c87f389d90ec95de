"""AWS Bedrock provider plugin: every model family Bedrock's Converse API serves (Anthropic
Claude, Amazon Nova, Meta Llama, Mistral, Cohere, DeepSeek, ...) and Titan / Cohere embeddings,
through boto3's ``bedrock-runtime`` client.

Registers the provider ``bedrock``: names ``bedrock/<model id or inference profile id>``
(``bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0``, ``bedrock/amazon.nova-pro-v1:0``); the
common ids are in the catalog (also as bare names). ``pip install "cencori-core[bedrock]"``;
boto3 is imported only when the provider is first used.

Configuration (``providers={"bedrock": {...}}``)
    ``region`` (else ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / the profile's region),
    ``profile``, ``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token`` (else
    boto3's credential chain: environment, shared files, SSO, container and instance roles),
    ``endpoint_url`` (a VPC endpoint, or a test server), ``max_concurrency`` (threads of the
    async path, default 16), ``timeout``. No ``api_key``: a Bedrock API key is read by boto3
    from ``AWS_BEARER_TOKEN_BEDROCK``. ``requires_key`` is off; missing credentials or region
    are reported when the provider is built, before any request.

Chat
    Converse / ConverseStream: system prompts, images (data URLs or ``s3://`` URIs), tools
    (``toolConfig``, ``toolUse``, ``toolResult``), stop reasons, usage with prompt-cache reads
    and writes, reasoning (``reasoningContent``, signatures kept in
    ``message.provider_data["bedrock"]`` and sent back next turn), ``response_format`` with a
    JSON schema (``outputConfig``). ``provider_options`` are merged into the Converse call as
    written (``additionalModelRequestFields``, ``guardrailConfig``, ``performanceConfig``, ...).

Embeddings
    InvokeModel with each family's JSON body: Titan text embeddings (one text per call,
    ``dimensions`` 256/512/1024 on v2) and Cohere embed (96 texts per call, ``input_type``
    default ``search_document``, ``dimensions`` on embed v4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cencori_core import hookimpl

from ._catalog import MODELS

if TYPE_CHECKING:
    from cencori_core.config import ProviderConfig
    from cencori_core.provider import Provider

CONFIG_KEYS = ("region", "profile", "aws_access_key_id", "aws_secret_access_key",
               "aws_session_token", "endpoint_url", "max_concurrency")


def make_provider(config: ProviderConfig) -> Provider:
    """Build the provider; boto3 is imported here, on first use."""
    from ._provider import BedrockProvider

    return BedrockProvider(config)


@hookimpl
def cencori_register_providers(register: Any) -> None:
    register(
        "bedrock",
        make_provider,
        models=MODELS,
        requires_key=False,
        extra="bedrock",
        config_keys=CONFIG_KEYS,
    )
