"""LangChain's `ChatOpenAI`, unmodified, against `/v1` on the embedded model: plain chat, a bound tool, and
structured output (its default json_schema method)."""

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


class Country(BaseModel):
    """Facts about a country."""

    name: str = Field(max_length=40)
    capital: str = Field(max_length=40)


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}"


@pytest.fixture
def chat_model(local_llm, daphne_server, settings) -> ChatOpenAI:
    url = daphne_server([model | {"max_output_tokens": 200} for model in settings.LLM_MODELS])
    return ChatOpenAI(
        model=settings.LLM_MODEL,
        base_url=f"{url}/v1",
        api_key=make_key(make_user()),
        max_retries=0,
        timeout=120,
        max_tokens=120,
    )


def test_it_chats(chat_model):
    reply = chat_model.invoke("Say hello in one short sentence.")
    assert reply.content.strip()
    assert reply.usage_metadata["output_tokens"] > 0


def test_a_bound_tool_is_called_and_its_result_answered(chat_model):
    with_tools = chat_model.bind_tools([get_weather], tool_choice="get_weather")
    question = HumanMessage("What is the weather in Lisbon?")
    called = with_tools.invoke([question])
    assert called.tool_calls, called
    call = called.tool_calls[0]
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["city"], str)
    result = ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
    answer = chat_model.bind_tools([get_weather], tool_choice="none").invoke([question, called, result])
    assert answer.content.strip()
    assert not answer.tool_calls


def test_structured_output_comes_back_as_the_pydantic_model(chat_model):
    structured = chat_model.with_structured_output(Country)
    country = structured.invoke("Tell me about France.")
    assert isinstance(country, Country)
    assert country.name
