"""Fifty prompts, each with the pydantic model its answer must fit: the set `.parse()` is measured on (issue #16).

The models look like what integrators write (bounded strings and lists, enums, numbers, an optional field, a nested
object); the prompts are ordinary requests for data of that shape.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Short = Annotated[str, Field(max_length=40)]


class City(BaseModel):
    name: Short
    country: Short
    population: int


class Sentiment(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    confidence: float


class Recipe(BaseModel):
    title: Short
    ingredients: list[Short] = Field(max_length=6)
    minutes: int


class Contact(BaseModel):
    name: Short
    email: Short
    phone: Short | None


class Address(BaseModel):
    street: Short
    city: Short


class Person(BaseModel):
    name: Short
    age: int
    address: Address


class Ticket(BaseModel):
    title: Short
    priority: Literal["low", "medium", "high"]
    tags: list[Short] = Field(max_length=4)


CASES: list[tuple[str, type[BaseModel]]] = [
    *(
        (f"Give me facts about {city} as JSON.", City)
        for city in ("Paris", "Tokyo", "Lagos", "Lima", "Oslo", "Cairo", "Delhi", "Quito")
    ),
    *(
        (f"What is the sentiment of this review: '{review}'", Sentiment)
        for review in (
            "I loved every minute of it.",
            "The battery died after a day.",
            "It arrived on Tuesday.",
            "Best purchase this year!",
            "Terrible support, never again.",
            "The box was blue.",
            "Works fine, nothing special.",
            "Absolutely wonderful staff.",
        )
    ),
    *(
        (f"Write a short recipe for {dish}.", Recipe)
        for dish in ("pancakes", "tomato soup", "a green salad", "fried rice", "lemonade", "guacamole", "toast")
    ),
    *(
        (f"Make up a contact card for {who}.", Contact)
        for who in ("a plumber", "a dentist", "my aunt Rosa", "a taxi company", "a bakery", "a florist", "a lawyer")
    ),
    *(
        (f"Describe {who} as a person record with an address.", Person)
        for who in ("a retired teacher", "a young painter", "a chef", "a pilot", "a student", "a farmer", "a nurse")
    ),
    *(
        (f"File a support ticket: {problem}", Ticket)
        for problem in (
            "the login page shows an error",
            "invoices are sent twice",
            "the app is slow on Mondays",
            "a typo on the pricing page",
            "password reset e-mails never arrive",
            "the export button does nothing",
            "dark mode colours are wrong",
            "search misses recent documents",
            "uploads fail above 10 MB",
            "the mobile menu overlaps the logo",
            "reports show yesterday's data",
            "notifications arrive late",
            "the API returns 500 on empty input",
        )
    ),
]
assert len(CASES) == 50
