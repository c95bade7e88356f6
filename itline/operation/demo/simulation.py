"""The simulation: who contacts the desk when, what becomes of it, how long it takes.

Arrivals follow the working day (monitoring raises alerts around the clock); response and
resolution take lognormally distributed business minutes whose median depends on the
priority, so most cases are quick and a few take very long. P1 and P2 are worked on the
agreement's hours (on call where the agreement is 24x7), P3 and P4 wait for office hours.
Some incidents go on hold, some are escalated from the desk to second line, some are
reopened. Every step writes what the verb for that step writes (see
``itline.operation.services``)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from itline.operation.demo import catalogue as cat
from itline.operation.demo.history import History, Story, ref
from itline.operation.demo.world import SERVICE_DESK, SYSTEM, Actor, World
from itline.operation.models import Incident, KnownError, Problem, ServiceRequest

SEED = 42_2026
DAYS = 90
LOCAL = ZoneInfo("Europe/Amsterdam")

# Business minutes: median first response and resolution per priority (lognormal spread).
RESPONSE_MEDIAN = {1: 6, 2: 15, 3: 45, 4: 120}
RESOLUTION_MEDIAN = {1: 90, 2: 220, 3: 600, 4: 1100}
# Mean arrivals per day (weekday, weekend).
INCIDENTS_PER_DAY = (10.0, 3.5)
REQUESTS_PER_DAY = (26.0, 5.0)
# Relative weight of each local hour for contacts from people.
USER_HOURS = [0.2] * 6 + [1, 3, 8, 10, 10, 8, 5, 8, 8, 7, 5, 3, 1, 1, 1, 0.6, 0.4, 0.3]
COMPONENT_TYPE_WEIGHTS = {
    "application": 35,
    "virtual-machine": 25,
    "database": 15,
    "network-device": 10,
    "server": 5,
    "storage": 3,
    "cloud-resource": 7,
}
AUTO_CLOSE_MINUTES = 3 * 540  # resolved incidents close after three business days
REQUEST_AUTO_CLOSE_MINUTES = 5 * 540


class Simulation(History):
    def __init__(self, world: World, now: datetime, seed: int = SEED) -> None:
        super().__init__(world, now)
        self.rng = random.Random(seed)  # noqa: S311 (demo data, not security)

    # small helpers ---------------------------------------------------------------------------

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0, sigma))

    def weighted(self, weights: Mapping[Any, float]) -> Any:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def member(self, function: Any) -> Any:
        """Who in ``function`` picks the case up. Personas with a login get a bigger share,
        so their queues are alive when one logs in."""
        people = self.world.members.get(function.name) or []
        if not people:
            return None
        return self.rng.choices(people, weights=[3.0 if p.user_id else 1.0 for p in people])[0]

    def desk_agent(self) -> Any:
        return self.member(self.world.functions[SERVICE_DESK])

    def local(self, day: date, hours: float) -> datetime:
        minute = min(round(hours * 60), 24 * 60 - 1)
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=LOCAL).astimezone(UTC)

    def arrival(self, day: date, *, monitoring: bool = False) -> datetime:
        if monitoring:
            return self.local(day, self.rng.uniform(0, 24))
        hour = self.rng.choices(range(24), weights=USER_HOURS)[0]
        return self.local(day, hour + self.rng.random())

    def priority(self, impact: int, urgency: int) -> int:
        return self.world.matrix.get((impact, urgency), 3)

    def cell_for(self, priority: int) -> tuple[int, int]:
        """Impact and urgency that give ``priority`` (the most balanced cell)."""
        cells = sorted(
            (abs(i - u), i, u) for (i, u), p in self.world.matrix.items() if p == priority
        )
        return (cells[0][1], cells[0][2]) if cells else (2, 2)

    def impact_for(self, service: Any) -> int:
        weights = {5: {1: 12, 2: 58, 3: 30}, 4: {1: 7, 2: 55, 3: 38}, 3: {1: 4, 2: 48, 3: 48}}
        return int(self.weighted(weights.get(service.criticality, {1: 2, 2: 40, 3: 58})))

    def urgency(self) -> int:
        return int(self.weighted({1: 12, 2: 58, 3: 30}))

    def popular_service(self) -> Any:
        services = self.world.it_services
        return self.rng.choices(services, weights=[s.criticality for s in services])[0]

    # incidents -------------------------------------------------------------------------------

    def new_incident(
        self,
        *,
        at: datetime,
        by: Actor,
        title: str,
        service: Any = None,
        component: Any = None,
        caller: Any = None,
        impact: int,
        urgency: int,
        channel: str,
        function: Any = None,
        description: str = "",
        request: ServiceRequest | None = None,
    ) -> Story:
        """``create_incident``: routed to the owner function, so it starts assigned."""
        world = self.world
        customer = world.customer_of(caller)
        function = function or world.owner_of(service, component)
        inc = Incident(
            title=title[:200],
            description=description,
            status="assigned" if function is not None else "new",
            service=service,
            component=component,
            impact=impact,
            urgency=urgency,
            priority=self.priority(impact, urgency),
            caller=caller,
            customer=customer,
            agreement=world.agreement_for(customer, service),
            assigned_function=function,
            channel=channel,
        )
        self.incidents.append(inc)
        story = self.story(inc)
        story.create(at, by, message=ref(request, "from {ref}") if request is not None else "")
        return story

    def live_incident(
        self,
        s: Story,
        *,
        escalate: bool = False,
        known_error: KnownError | None = None,
        reopen: float = 0.05,
        hold: float = 0.14,
    ) -> None:
        """From pick-up to closure (or to now, whatever comes first)."""
        rng = self.rng
        world = self.world
        inc: Incident = s.obj
        p = inc.priority
        work = world.engine(inc.agreement) if p <= 2 else world.office
        t0 = inc.created_at
        r = max(1.0, self.lognormal(RESPONSE_MEDIAN[p], 0.75))
        total = max(r + 5, self.lognormal(RESOLUTION_MEDIAN[p], 0.75))
        assignee = self.member(inc.assigned_function)
        dispatcher = world.actor(self.desk_agent())
        # assign_incident (a person of the routed function), then transition to in progress,
        # which records the first response.
        if not s.change(
            work.add_minutes(t0, r * rng.uniform(0.3, 0.9)),
            dispatcher,
            "assigned",
            assignee=assignee,
        ):
            return
        who = world.actor(assignee)
        t = work.add_minutes(t0, r)
        if not s.change(t, who, "state_changed", status="in_progress", responded_at=t):
            return
        left = total - r
        if known_error is not None:
            self.apply_known_error(s, t, who, known_error)
            left *= 0.3  # the workaround restores the service quickly
        if escalate:
            t = work.add_minutes(t, left * 0.25)
            left *= 0.75
            owner = world.owner_of(inc.service, inc.component)
            second = self.member(owner)
            if not s.change(t, who, "assigned", assigned_function=owner, assignee=second):
                return
            s.message(t, "note", assignee, f"Escalated to {owner.name}: needs second line.")
            t = work.add_minutes(t, self.lognormal(30, 0.8))
            assignee, who = second, world.actor(second)
        if rng.random() < 0.5:
            s.message(work.add_minutes(t, left * 0.3), "note", assignee, rng.choice(cat.NOTES))
        if rng.random() < hold:
            t = work.add_minutes(t, left * 0.5)
            left *= 0.5
            reason = self.weighted(
                {"waiting_for_customer": 6, "waiting_for_supplier": 3, "waiting_for_change": 1}
            )
            if not s.change(t, who, "state_changed", status="on_hold", hold_reason=reason):
                return
            asked = reason == "waiting_for_customer" and inc.caller is not None
            if asked:
                s.message(t, "reply", assignee, rng.choice(cat.WAITING_QUESTIONS))
            hours = self.lognormal(
                16 if asked else 40 if reason == "waiting_for_supplier" else 70, 0.8
            )
            t = world.office.next_business_instant(t + timedelta(hours=hours))
            if asked:
                answer = rng.choice(cat.REQUESTER_ANSWERS).format(n=rng.randint(1, 9999))
                s.message(t, "reply", inc.caller, answer)
            if not s.change(t, who, "state_changed", status="in_progress", hold_reason=""):
                return
        t = work.add_minutes(t, max(left, 1.0))
        category = "workaround" if known_error is not None else self.weighted(cat.CATEGORY_WEIGHTS)
        if not self.resolve(s, t, who, category):
            return
        if inc.caller is not None and rng.random() < 0.7:
            s.message(t, "reply", assignee, rng.choice(cat.REPLIES_TO_CALLER))
        if rng.random() < reopen:
            t = world.office.add_minutes(t, self.lognormal(200, 0.8))
            reopener = world.actor(inc.caller) if inc.caller is not None else who
            if not self.reopen(s, t, reopener, "It is broken again."):
                return
            if inc.caller is not None:
                s.message(t, "reply", inc.caller, "It is broken again since this morning.")
            t = work.add_minutes(t, self.lognormal(total * 0.3, 0.6))
            if not self.resolve(s, t, who, self.weighted(cat.CATEGORY_WEIGHTS)):
                return
        self.close(s, t)

    def resolve(
        self, s: Story, at: datetime, who: Actor, category: str, resolution: str | None = None
    ) -> bool:
        """``resolve_incident``."""
        done = s.change(
            at,
            who,
            "state_changed",
            status="resolved",
            hold_reason="",
            resolution=resolution or self.rng.choice(cat.RESOLUTIONS[category]),
            resolution_category=category,
            resolved_at=at,
        )
        if done:
            s.milestones.append((at, "resolved", who))
        return done

    def reopen(self, s: Story, at: datetime, who: Actor, reason: str) -> bool:
        """``reopen_incident``."""
        done = s.change(
            at,
            who,
            "state_changed",
            message=reason,
            status="in_progress",
            resolved_at=None,
            resolution="",
            resolution_category="",
        )
        if done:
            s.milestones.append((at, "reopened", who))
        return done

    def close(self, s: Story, resolved: datetime) -> None:
        """The caller confirms (``close_incident`` by them) or it closes automatically."""
        inc = s.obj
        if inc.caller is not None and self.rng.random() < 0.35:
            at = self.world.office.add_minutes(resolved, self.lognormal(120, 0.9))
            actor = self.world.actor(inc.caller)
        else:
            at = self.world.office.add_minutes(resolved, AUTO_CLOSE_MINUTES)
            actor = SYSTEM
        if s.change(at, actor, "state_changed", status="closed", closed_at=at):
            s.milestones.append((at, "closed", actor))

    def apply_known_error(self, s: Story, at: datetime, who: Actor, ke: KnownError) -> None:
        """``apply_known_error``: link it, copy its workaround, link its problem."""
        inc: Incident = s.obj
        values: dict[str, Any] = {
            "known_error": ke,
            "workaround": ref(
                ke, "From {ref}: " + ke.workaround.replace("{", "{{").replace("}", "}}")
            ),
        }
        if ke.problem is not None and inc.problem is None:
            values["problem"] = ke.problem
        s.change(at, who, "updated", **values)

    def random_incident(self, day: date) -> None:
        rng = self.rng
        world = self.world
        if rng.random() < 0.55:  # raised by monitoring on a component
            ctype = self.weighted(COMPONENT_TYPE_WEIGHTS)
            component = rng.choice(world.components_by_type[ctype])
            at = self.arrival(day, monitoring=True)
            if at > self.now:
                return
            s = self.new_incident(
                at=at,
                by=SYSTEM,
                title=rng.choice(cat.COMPONENT_FAULTS[ctype]).format(name=component.name),
                component=component,
                impact=int(self.weighted({1: 4, 2: 48, 3: 48})),
                urgency=int(self.weighted({1: 10, 2: 60, 3: 30})),
                channel=self.weighted({"monitoring": 85, "api": 15}),
                description=cat.MONITORING_DESCRIPTION.format(
                    time=at.astimezone(LOCAL).strftime("%H:%M"),
                    check=rng.choice(cat.MONITORING_CHECKS),
                ),
            )
            self.live_incident(s)
            return
        # a phone call the desk logs as an incident straight away
        service = self.popular_service()
        caller = rng.choice(world.requesters)
        at = self.arrival(day)
        if at > self.now:
            return
        first_line = rng.random() < 0.5
        s = self.new_incident(
            at=at,
            by=world.actor(self.desk_agent()),
            title=rng.choice(cat.SERVICE_FAULTS[service.name]).format(n=rng.randint(1, 5)),
            service=service,
            caller=caller,
            impact=self.impact_for(service),
            urgency=self.urgency(),
            channel="phone",
            function=world.functions[SERVICE_DESK] if first_line else None,
            description=rng.choice(cat.DESCRIPTIONS).format(
                caller=caller.name, time=at.astimezone(LOCAL).strftime("%H:%M")
            ),
        )
        self.live_incident(s, escalate=first_line and rng.random() < 0.5)

    # service requests ------------------------------------------------------------------------

    def new_request(
        self,
        *,
        at: datetime,
        rtype: str,
        title: str,
        description: str,
        requester: Any,
        service: Any,
        channel: str,
    ) -> Story:
        """``create_request`` (the e-mail gateway files it for mail, the desk for a call)."""
        world = self.world
        req = ServiceRequest(
            request_type=rtype,
            channel=channel,
            title=title[:200],
            description=description,
            requester=requester,
            customer=world.customer_of(requester),
            service=service,
            assigned_function=world.functions[SERVICE_DESK],
        )
        self.requests.append(req)
        s = self.story(req)
        by = {
            "portal": world.actor(requester),
            "phone": world.actor(self.desk_agent()),
        }.get(channel, SYSTEM)
        s.create(at, by)
        if channel == "email":
            s.message(at, "email_in", requester, description or title, email=True, subject=title)
        return s

    def random_request(self, day: date) -> None:
        rng = self.rng
        world = self.world
        rtype = self.weighted(cat.REQUEST_TYPE_WEIGHTS)
        requester = rng.choice(world.requesters)
        at = self.arrival(day)
        if at > self.now:
            return
        if rtype == "fault_report":
            service = self.popular_service()
            title = rng.choice(cat.SERVICE_FAULTS[service.name]).format(n=rng.randint(1, 5))
            description = rng.choice(cat.DESCRIPTIONS).format(
                caller=requester.name, time=at.astimezone(LOCAL).strftime("%H:%M")
            )
            answer = ""
        else:
            title, service_name, description, answer = rng.choice(cat.REQUESTS[rtype])
            service = world.services.get(service_name) if service_name else None
        s = self.new_request(
            at=at,
            rtype=rtype,
            title=title,
            description=description,
            requester=requester,
            service=service,
            channel=self.weighted(cat.CHANNEL_WEIGHTS),
        )
        self.live_request(s, answer=answer)

    def live_request(self, s: Story, *, answer: str, link_to: Story | None = None) -> None:
        rng = self.rng
        world = self.world
        office = world.office
        req: ServiceRequest = s.obj
        requester = req.requester
        email = req.channel == "email"
        if link_to is None and rng.random() < 0.02:  # withdrawn before anybody looked
            t = req.created_at + timedelta(minutes=self.lognormal(40, 0.8))
            s.change(
                t,
                world.actor(requester),
                "state_changed",
                status="closed",
                outcome="withdrawn",
                closed_at=t,
            )
            return
        agent = self.desk_agent()
        who = world.actor(agent)
        # assign_request: a person of the desk; a new request moves to in progress
        t = office.add_minutes(req.created_at, self.lognormal(25 if link_to is None else 5, 1.0))
        if not s.change(t, who, "assigned", assignee=agent, status="in_progress"):
            return
        if link_to is None and rng.random() < 0.15:
            t = office.add_minutes(t, self.lognormal(20, 0.8))
            s.message(
                t,
                "email_out" if email else "reply",
                agent,
                rng.choice(cat.WAITING_QUESTIONS),
                email=email,
            )
            if not s.change(t, who, "state_changed", status="waiting_for_requester"):
                return
            t = t + timedelta(hours=self.lognormal(5, 1.0))
            reply = rng.choice(cat.REQUESTER_ANSWERS).format(n=rng.randint(1, 9999))
            s.message(t, "email_in" if email else "reply", requester, reply, email=email)
            if not s.change(t, world.actor(requester), "state_changed", status="in_progress"):
                return
        rtype = req.request_type
        if rtype == "fault_report":
            self.classify_fault(s, office.add_minutes(t, self.lognormal(15, 0.8)), agent, link_to)
            return
        if rtype == "improvement_proposal":
            t = office.add_minutes(t, self.lognormal(600, 0.8))
            if rng.random() < 0.8:
                self.register_improvement(s, t, agent)
            else:
                self.answer(
                    s, t, agent, "rejected", "Thank you; the planned release already covers this."
                )
        else:
            median = {"question": 45, "order": 900, "complaint": 300}[rtype]
            t = office.add_minutes(t, self.lognormal(median, 0.9))
            self.answer(s, t, agent, "fulfilled" if rtype == "order" else "answered", answer)
        self.close_request(s)

    def answer(self, s: Story, at: datetime, agent: Any, outcome: str, answer: Any) -> bool:
        """``answer_request``; the answer is sent to the requester."""
        done = s.change(
            at,
            self.world.actor(agent),
            "state_changed",
            status="resolved",
            outcome=outcome,
            answer=answer,
            resolved_at=at,
        )
        if done and isinstance(answer, str):
            email = s.obj.channel == "email"
            s.message(at, "email_out" if email else "reply", agent, answer, email=email)
        return done

    def close_request(self, s: Story) -> None:
        req = s.obj
        if req.status != "resolved" or req.resolved_at is None:
            return
        if self.rng.random() < 0.4:  # the requester confirms
            at = self.world.office.add_minutes(req.resolved_at, self.lognormal(60, 1.0))
            actor = self.world.actor(req.requester)
        else:
            at = self.world.office.add_minutes(req.resolved_at, REQUEST_AUTO_CLOSE_MINUTES)
            actor = SYSTEM
        s.change(at, actor, "state_changed", status="closed", closed_at=at)

    def classify_fault(self, s: Story, at: datetime, agent: Any, link_to: Story | None) -> None:
        """Link to the open incident, apply a known error, turn into an incident, or answer."""
        rng = self.rng
        world = self.world
        req: ServiceRequest = s.obj
        who = world.actor(agent)
        if not s.alive(at):
            return
        if link_to is None:
            ke = self._known_error_for(req.service, at)
            if ke is not None and rng.random() < 0.5:
                # link_request with a known error: resolved with the workaround
                answer = ref(
                    ke, "This is a known error ({ref}). Workaround: " + _braces(ke.workaround)
                )
                if s.change(
                    at,
                    who,
                    "state_changed",
                    known_error=ke,
                    status="resolved",
                    outcome="known_error",
                    answer=answer,
                    resolved_at=at,
                ):
                    s.message(
                        at, "reply", agent, f"This is a known error. Workaround: {ke.workaround}"
                    )
                    self.close_request(s)
                return
            link_to = self._open_incident_on(req.service, at) if rng.random() < 0.2 else None
            if link_to is None and rng.random() < 0.15:
                self.answer(s, at, agent, "answered", rng.choice(cat.RESOLUTIONS["user_error"]))
                self.close_request(s)
                return
        if link_to is not None:
            if not s.change(at, who, "updated", incident=link_to.obj, outcome="linked_incident"):
                return
        else:
            # convert_request_to_incident: the request stays open and follows the incident
            service = req.service or self.popular_service()
            first_line = rng.random() < 0.4
            link_to = self.new_incident(
                at=at,
                by=who,
                title=req.title,
                service=service,
                caller=req.requester,
                impact=self.impact_for(service),
                urgency=self.urgency(),
                channel=req.channel,
                function=world.functions[SERVICE_DESK] if first_line else None,
                description=req.description,
                request=req,
            )
            if not s.change(
                at,
                who,
                "updated",
                message=ref(link_to.obj, "turned into {ref}"),
                incident=link_to.obj,
                outcome="incident",
            ):
                return
            self.live_incident(link_to, escalate=first_line and rng.random() < 0.5)
        self.follow(s, link_to, since=at)

    def follow(self, s: Story, incident: Story, *, since: datetime) -> None:
        """The request follows its incident: resolved with it (``resolve_requests_of_incident``),
        closed with it."""
        for at, what, actor in incident.milestones:
            if at < since:
                continue
            req = s.obj
            if what == "resolved" and req.status in ("new", "in_progress", "waiting_for_requester"):
                s.change(
                    at,
                    actor,
                    "state_changed",
                    status="resolved",
                    answer=incident.obj.resolution,
                    resolved_at=at,
                )
            elif what == "closed" and req.status != "closed":
                s.change(at, actor, "state_changed", status="closed", closed_at=at)

    def register_improvement(self, s: Story, at: datetime, agent: Any) -> None:
        """``register_improvement_from_request``: an entry in the improvement register."""
        from itline.delivery.models import Improvement

        req: ServiceRequest = s.obj
        if at > self.now:
            s.alive(at)
            return
        imp = Improvement(
            title=req.title,
            description=req.description,
            service=req.service,
            proposed_by=req.requester,
            source_reference=cast(Any, ref(req)),
        )
        self.improvements.append(imp)
        who = self.world.actor(agent)
        story = self.story(imp)
        story.create(at, who)
        s.change(
            at,
            who,
            "state_changed",
            status="resolved",
            outcome="improvement",
            improvement_reference=ref(imp),
            answer=ref(
                imp, "Thank you: your proposal is registered as {ref} in the improvement register."
            ),
            resolved_at=at,
        )
        decided = at + timedelta(days=self.rng.uniform(3, 20))
        status = self.weighted({"new": 5, "accepted": 3, "rejected": 1, "done": 1})
        if status != "new":
            story.change(
                decided,
                self.world.actor(self.world.people.get("Oscar Olsen")),
                "updated",
                status=status,
            )

    def _known_error_for(self, service: Any, at: datetime) -> KnownError | None:
        if service is None:
            return None
        for ke in self.known_errors:
            if ke.service_id == service.pk and ke.created_at <= at and ke.active:
                return ke
        return None

    def _open_incident_on(self, service: Any, at: datetime) -> Story | None:
        if service is None:
            return None
        for inc in reversed(self.incidents[-150:]):
            if (
                inc.service_id == service.pk
                and inc.created_at <= at
                and inc.merged_into is None
                and inc.status != "closed"
                and (inc.resolved_at is None or inc.resolved_at > at)
            ):
                return self.story_of(inc)
        return None

    # major incidents -------------------------------------------------------------------------

    def major(self, spec: dict[str, Any], *, open_now: bool = False) -> Story:
        """A major incident coordinated by the incident manager: declared major right away,
        stakeholder updates through the outage, duplicates merged, fault reports linked."""
        world = self.world
        manager_person = world.people["Ingrid Iversen"]
        manager = world.actor(manager_person)
        service = world.services[spec["service"]]
        component = world.components.get(spec["component"]) if spec.get("component") else None
        caller = self.rng.choice([p for p in world.requesters if world.customer_of(p)])
        if open_now:
            agreement = world.agreement_for(world.customer_of(caller), service)
            used = spec["used"] * world.target_minutes(agreement, 1)[1]
            t0 = world.engine(agreement).add_minutes(self.now, -used)
            end = self.now
        else:
            day = (self.now.astimezone(LOCAL) - timedelta(days=spec["days_ago"])).date()
            t0 = self.local(day, spec["hour"])
            end = t0 + timedelta(minutes=spec["minutes"])
        desk = world.actor(self.desk_agent())
        s = self.new_incident(
            at=t0,
            by=desk,
            title=spec["title"],
            service=service,
            component=component,
            caller=caller,
            impact=1,
            urgency=1,
            channel="phone",
            description=spec["description"],
        )
        inc: Incident = s.obj
        t = t0 + timedelta(minutes=4)
        s.change(t, manager, "updated", major=True)
        s.change(
            t,
            manager,
            "assigned",
            assigned_function=world.functions[SERVICE_DESK],
            assignee=manager_person,
        )
        t = t0 + timedelta(minutes=7)
        s.change(t, manager, "state_changed", status="in_progress", responded_at=t)
        stakeholders = sorted(
            {c.decision_maker.email for c in service.customers.all() if c.decision_maker_id}
            | {
                f.email
                for f in world.functions.values()
                if f.governance_level == "strategic" and f.email
            }
        )
        updates = list(spec["updates"])
        for k, body in enumerate(updates):
            at = t0 + (end - t0) * ((k + 0.5) / len(updates))
            subject = ref(inc, f"[{{ref}}] Update {k + 1}: {_braces(inc.title)}")
            s.message(at, "update", manager_person, body, to=stakeholders, subject=subject)
        if not open_now:
            self.resolve(s, end, manager, spec["category"], resolution=spec["resolution"])
            self.close(s, end)
        # others report the same outage: duplicates merged, fault reports linked
        for k in range(spec["duplicates"]):
            at = t0 + (end - t0) * (0.05 + 0.35 * (k + 1) / spec["duplicates"])
            reporter = self.rng.choice(world.requesters)
            if k % 2 == 0:
                self.merged_duplicate(s, at, reporter, service, manager)
            else:
                req = self.new_request(
                    at=at,
                    rtype="fault_report",
                    title=f"{service.name} is down",
                    description="Nothing works since a few minutes.",
                    requester=reporter,
                    service=service,
                    channel=self.weighted({"portal": 1, "email": 2}),
                )
                self.live_request(req, answer="", link_to=s)
        return s

    def merged_duplicate(
        self, survivor: Story, at: datetime, reporter: Any, service: Any, manager: Actor
    ) -> None:
        """``merge_incident``: the duplicate is closed pointing at the survivor."""
        dup = self.new_incident(
            at=at,
            by=self.world.actor(self.desk_agent()),
            title=f"{service.name} not working",
            service=service,
            caller=reporter,
            impact=2,
            urgency=1,
            channel=self.weighted({"phone": 2, "email": 1}),
            description=f"{reporter.name} reports that {service.name} is unavailable.",
        )
        t = at + timedelta(minutes=3)
        survivor_inc = survivor.obj
        if dup.change(
            t,
            manager,
            "state_changed",
            message=ref(survivor_inc, "merged into {ref}"),
            merged_into=survivor_inc,
            status="closed",
            hold_reason="",
            resolution=ref(survivor_inc, "Duplicate of {ref}."),
            resolution_category="duplicate",
            resolved_at=t,
            closed_at=t,
        ):
            survivor.note(t, manager, "updated", ref(dup.obj, "{ref} merged into this incident"))

    # problems and known errors ---------------------------------------------------------------

    def problems_and_known_errors(self, majors: list[Story]) -> None:
        rng = self.rng
        world = self.world
        now = self.now
        paul = world.people["Paul Petrov"]
        for spec in cat.PROBLEMS:
            service, component = world.node(spec["target"])
            owner = world.people.get(spec["owner"]) or paul
            who = world.actor(owner)
            status = spec["status"]
            n = int(spec["n"])
            major = majors[spec["major"]] if spec["major"] is not None else None
            if major is not None:
                first = [major.obj.created_at]
                created = major.obj.created_at + timedelta(days=1)
            else:
                start = now - timedelta(days=rng.uniform(45, 86))
                first = sorted(start + timedelta(days=rng.uniform(0, 12)) for _ in range(min(3, n)))
                created = first[-1] + timedelta(hours=rng.uniform(2, 30))
            span = now - created
            order = ["new", "investigating", "known_error", "resolved", "closed"]
            reached = set(order[: order.index(status) + 1])
            # create_problem (raise_problem_from_incident for a major incident)
            problem = Problem(
                title=spec["title"],
                description=cast(
                    Any,
                    ref(major.obj, "Raised from {ref}.\n\n" + _braces(major.obj.description))
                    if major is not None
                    else spec["symptoms"],
                ),
                priority=1 if major is not None else int(self.weighted({2: 1, 3: 3, 4: 1})),
                service=service,
                component=component,
                owner=owner,
                owner_function=world.owner_of(service, component),
                symptoms=spec["symptoms"],
            )
            self.problems.append(problem)
            ps = self.story(problem)
            ps.create(created, world.actor(paul))
            ke: KnownError | None = None
            if "investigating" in reached:
                ps.change(created + span * 0.08, who, "state_changed", status="investigating")
                if spec["analysis"]:
                    ps.change(created + span * 0.2, who, "updated", analysis=spec["analysis"])
            if "known_error" in reached:
                t = created + span * 0.35
                ps.change(
                    t, who, "updated", root_cause=spec["root_cause"], workaround=spec["workaround"]
                )
                # record_known_error
                ke = self.known_error(
                    t,
                    who,
                    title=problem.title,
                    workaround=spec["workaround"],
                    symptoms=spec["symptoms"],
                    root_cause=spec["root_cause"],
                    problem=problem,
                    service=service,
                    component=component,
                )
                ps.change(t, who, "state_changed", status="known_error")
            end = now - timedelta(hours=2)
            if "resolved" in reached:
                end = t = created + span * 0.6
                ps.change(
                    t,
                    who,
                    "updated",
                    resolution="Permanent fix implemented through a change; no recurrence since.",
                )
                ps.change(t, who, "state_changed", status="resolved", resolved_at=t)
            if "closed" in reached:
                t = created + span * 0.8
                ps.change(t, who, "state_changed", status="closed", closed_at=t)
                if ke is not None:
                    self.story_of(ke).change(t, who, "updated", active=False)
            # its incidents: the first ones made it a problem, later ones recur until the fix
            times = first + sorted(
                created + (end - created) * rng.random() for _ in range(n - len(first))
            )
            for k, at in enumerate(times):
                s = major if major is not None and k == 0 else None
                if s is None:
                    s = self.theme_incident(at, spec["incidents"], service, component, ke)
                if s is None:
                    continue
                # link_incident_to_problem (a known error applied may have linked it already)
                link_at = max(s.obj.created_at + timedelta(minutes=20), created)
                if s.obj.problem is None and s.change(
                    link_at, world.actor(paul), "updated", late=True, problem=problem
                ):
                    ps.note(link_at, world.actor(paul), "updated", ref(s.obj, "linked {ref}"))
        for spec2 in cat.STANDALONE_KNOWN_ERRORS:
            service, component = world.node(spec2["target"])
            at = now - timedelta(days=rng.uniform(30, 80))
            ke = self.known_error(
                at,
                world.actor(paul),
                title=spec2["title"],
                symptoms=spec2["symptoms"],
                root_cause=spec2["root_cause"],
                workaround=spec2["workaround"],
                service=service,
                component=component,
            )
            for _ in range(rng.randint(3, 6)):
                self.theme_incident(
                    at + (now - at) * rng.random(), [spec2["title"]], service, component, ke
                )

    def known_error(self, at: datetime, who: Actor, **fields: Any) -> KnownError:
        """``create_known_error``."""
        ke = KnownError(**fields)
        self.known_errors.append(ke)
        self.story(ke).create(at, who)
        return ke

    def theme_incident(
        self, at: datetime, variants: list[str], service: Any, component: Any, ke: KnownError | None
    ) -> Story | None:
        """One more incident of a recurring fault (similar words, same service/component)."""
        rng = self.rng
        caller = rng.choice(self.world.requesters) if service is not None else None
        if caller is not None:  # people report in the working day; monitoring any time
            at = self.world.office.next_business_instant(at)
        if at > self.now:
            return None
        s = self.new_incident(
            at=at,
            by=self.world.actor(self.desk_agent()) if caller is not None else SYSTEM,
            title=rng.choice(variants),
            service=service,
            component=component,
            caller=caller,
            impact=int(self.weighted({1: 5, 2: 45, 3: 50})),
            urgency=int(self.weighted({1: 10, 2: 55, 3: 35})),
            channel="phone" if caller is not None else "monitoring",
        )
        usable = ke if ke is not None and ke.created_at <= at and ke.active else None
        self.live_incident(s, known_error=usable)
        return s

    # the personas' live queues ---------------------------------------------------------------

    def persona_incidents(self) -> None:
        """Open incidents placed so that a given share of the resolution target is used now:
        the queues of tech.tom, desk.dana and im.ingrid, some about to breach, one breached."""
        world = self.world
        for spec in cat.PERSONA_INCIDENTS:
            service, component = world.node(spec["target"])
            caller = world.people.get(spec["caller"]) if spec.get("caller") else None
            impact, urgency = self.cell_for(int(spec["priority"]))
            agreement = world.agreement_for(world.customer_of(caller), service)
            engine = world.engine(agreement)
            response, resolution = world.target_minutes(agreement, self.priority(impact, urgency))
            span = float(spec["used"]) * resolution
            t0 = engine.add_minutes(self.now, -span)
            desk = world.actor(self.desk_agent())
            s = self.new_incident(
                at=t0,
                by=desk if spec["channel"] != "monitoring" else SYSTEM,
                title=spec["title"],
                service=service,
                component=component,
                caller=caller,
                impact=impact,
                urgency=urgency,
                channel=spec["channel"],
                function=world.functions.get(spec.get("function", "")),
                description=f"Reported by {caller.name}." if caller else "Raised by monitoring.",
            )
            assignee = world.people.get(spec["assignee"]) if spec.get("assignee") else None
            if assignee is None:
                continue
            who = world.actor(assignee)
            s.change(
                engine.add_minutes(t0, min(span * 0.1, response * 0.4)),
                desk,
                "assigned",
                assignee=assignee,
            )
            if spec["status"] == "assigned":
                continue
            t = engine.add_minutes(t0, min(span * 0.2, response * 0.8))
            s.change(t, who, "state_changed", status="in_progress", responded_at=t)
            s.message(
                engine.add_minutes(t0, span * 0.4), "note", assignee, self.rng.choice(cat.NOTES)
            )
            if spec["status"] == "on_hold":
                t = engine.add_minutes(t0, span * 0.6)
                s.change(t, who, "state_changed", status="on_hold", hold_reason=spec["hold"])
                if spec["hold"] == "waiting_for_customer" and caller is not None:
                    s.message(
                        t, "reply", assignee, "Could you tell us which printer queue you use?"
                    )

    def persona_requests(self) -> None:
        world = self.world
        for spec in cat.PERSONA_REQUESTS:
            requester = world.people[spec["requester"]]
            t0 = self.now - timedelta(hours=float(spec["hours_ago"]))
            s = self.new_request(
                at=t0,
                rtype=spec["type"],
                title=spec["title"],
                description="",
                requester=requester,
                service=world.services.get(spec["service"]),
                channel="portal",
            )
            agent = world.people.get(spec["assignee"]) if spec["assignee"] else None
            if agent is None:
                continue
            who = world.actor(agent)
            s.change(
                t0 + (self.now - t0) * 0.2, who, "assigned", assignee=agent, status="in_progress"
            )
            t = t0 + (self.now - t0) * 0.6
            if spec["status"] == "waiting_for_requester":
                s.message(t, "reply", agent, "Should we use your work address or another one?")
                s.change(t, who, "state_changed", status="waiting_for_requester")
            elif spec["status"] == "resolved":
                self.answer(
                    s,
                    t,
                    agent,
                    "fulfilled",
                    "Delivered to the planning desk; please confirm it works.",
                )

    # the whole history -----------------------------------------------------------------------

    def run(self) -> None:
        rng = self.rng
        today = self.now.astimezone(LOCAL).date()
        majors = [self.major(spec) for spec in cat.MAJORS]
        self.problems_and_known_errors(majors)
        for back in range(DAYS, -1, -1):
            day = today - timedelta(days=back)
            weekend = day.weekday() >= 5
            for per_day, make in (
                (INCIDENTS_PER_DAY, self.random_incident),
                (REQUESTS_PER_DAY, self.random_request),
            ):
                mean = per_day[1 if weekend else 0]
                for _ in range(max(0, round(rng.gauss(mean, math.sqrt(mean))))):
                    make(day)
        self.major(cat.OPEN_MAJOR, open_now=True)
        self.persona_incidents()
        self.persona_requests()


def _braces(text: str) -> str:
    """Escape ``text`` for ``str.format`` (it is put into a ``ref`` template)."""
    return text.replace("{", "{{").replace("}", "}}")
