#!/usr/bin/env python3
"""Generate the deterministic sample Common Crawl under ``sample/crawl/``.

    python sample/generate.py [--out DIR]

Writes, under DIR (default: ``crawl/`` next to this script), exactly Common Crawl's layout::

    collinfo.json
    expected.json
    crawl-data/CC-MAIN-SAMPLE/warc.paths.gz
    crawl-data/CC-MAIN-SAMPLE/segments/<segment>/warc/CC-MAIN-<start>-<end>-0000N.warc.gz

Every text in the sample is synthetic: it is composed with a seeded ``random.Random`` from the
sentence banks in this file.  Nothing reads the clock, the host name or the environment, every
WARC-Record-ID comes from the seeded generator and every gzip member is written with mtime 0, so
two runs give byte-identical files (for one zlib build; the deflate stream is zlib's).

Standard library only (warcio is not needed to write; the tests read the output back with it).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import random
import re
import string
import unicodedata
import uuid
import zlib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

SEED = 20240220
CRAWL_ID = "CC-MAIN-SAMPLE"
SEGMENT = "1707947473347.0"
FILE_PREFIX = "CC-MAIN-20240220211055-20240221001055"
N_FILES = 3
CRAWL_START = datetime(2024, 2, 20, 21, 10, 55, tzinfo=timezone.utc)
CRAWL_END = datetime(2024, 2, 21, 0, 10, 55, tzinfo=timezone.utc)
USER_AGENT = "CCBot/2.0 (https://commoncrawl.org/faq/)"
TOO_LARGE_BYTES = 1_200_000  # the one page over 1 MB
DEFAULT_OUT = Path(__file__).resolve().parent / "crawl"

# What this script writes, per kind of response record (the tests compare against these).
EXPECTED_KIND_COUNTS = {
    "html": 278,
    "redirect": 7,
    "not_found": 5,
    "server_error": 1,
    "non_html": 7,
    "truncated": 1,
    "too_large": 1,
}

# ---------------------------------------------------------------------------------------------
# Slot values shared by the sentence banks.  A sentence may contain {town}, {name}, {month},
# {weekday}, {n} (a small number in words), {num} (two digits), {year}, and the page's
# {subject} / {Subject}.
# ---------------------------------------------------------------------------------------------
TOWNS = [
    "Millbrook", "Ashcombe", "Larkfield", "Oakhurst", "Bramley Cross", "Kingsmere", "Westhaven",
    "Fenwick", "Harrowdale", "Stonebridge", "Elmstead", "Redcliffe", "Thornbury Vale", "Cranford",
    "Easthope", "Wickham Green", "Lowmoor", "Sandholme",
]
FIRST_NAMES = [
    "Sarah", "James", "Priya", "Tom", "Helen", "Marcus", "Aisha", "David", "Fiona", "Owen",
    "Grace", "Ravi", "Lucy", "Daniel", "Megan", "Patrick", "Chloe", "Samuel", "Hannah", "Kwame",
    "Joanna", "Ben", "Nadia", "Peter", "Ellie", "George", "Mei", "Alan", "Rosie", "Callum",
]
SURNAMES = [
    "Whitfield", "Okafor", "Brennan", "Marsh", "Patel", "Holloway", "Lindqvist", "Carter",
    "Fitzgerald", "Nakamura", "Dawson", "Reyes", "Thornton", "MacLeod", "Baker", "Osei",
    "Harding", "Kowalski", "Pemberton", "Ashworth",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]
SMALL_NUMBERS = ["three", "four", "five", "six", "seven", "ten", "twelve", "fifteen", "twenty"]

SLOT_VALUES = {
    "town": TOWNS,
    "name": FIRST_NAMES,
    "month": MONTHS,
    "weekday": WEEKDAYS,
    "n": SMALL_NUMBERS,
    "num": [str(i) for i in range(12, 96)],
    "year": [str(i) for i in range(1820, 1986)],
}

# ---------------------------------------------------------------------------------------------
# English topic banks: subjects, title patterns, opening sentences, body sentences.
# ---------------------------------------------------------------------------------------------
EN_TOPICS = {
    "cooking": {
        "subjects": [
            "lemon drizzle cake", "mushroom risotto", "sourdough bread", "chicken and leek pie",
            "vegetable curry", "banana bread", "French onion soup", "shortbread biscuits",
            "tomato and basil pasta", "apple crumble", "fish pie", "minestrone soup",
            "roast vegetables", "oat pancakes", "lentil stew",
        ],
        "titles": [
            "How to make {subject} without any fuss",
            "The {subject} recipe I keep coming back to",
            "{Subject}: a simple weeknight version",
            "Five mistakes to avoid when making {subject}",
            "What a month of cooking {subject} taught me",
            "A lighter take on classic {subject}",
            "Our favourite {subject}, tested three ways",
        ],
        "intros": [
            "There are few things more comforting on a cold evening than a good {subject}, and this version has become a regular in our house.",
            "I first tried making {subject} when I was a student, and the results were, to put it kindly, rather mixed.",
            "My neighbour {name} asked me last week how I make {subject}, so I finally wrote the whole method down.",
            "This {subject} takes about an hour from start to finish, but most of that time is spent waiting rather than working.",
            "If you have never made {subject} at home before, this is a gentle place to start.",
            "We have been testing {subject} recipes in our kitchen since {month}, and this is the one that everybody agreed on.",
        ],
        "body": [
            "Start by weighing out all of your ingredients before you turn on the oven, because it makes the whole process much calmer.",
            "Good butter makes a noticeable difference here, so it is worth buying the best you can reasonably afford.",
            "If the mixture looks a little dry at this stage, add a splash of milk and stir until it comes together.",
            "Keep the heat low and be patient, since rushing this step is the most common reason for a bitter taste.",
            "I like to use a heavy pan with a thick base, which spreads the heat evenly and stops anything from catching.",
            "Season as you go rather than all at the end, and taste the sauce at least twice before serving.",
            "Onions need a good ten minutes to soften properly, and they should turn golden rather than brown.",
            "A squeeze of lemon juice just before serving lifts the flavour and balances the richness of the dish.",
            "Leftovers keep well in the fridge for up to three days, and they often taste even better the next day.",
            "You can freeze portions in small containers, which is handy on evenings when nobody has the energy to cook.",
            "Fresh herbs are lovely, but dried ones work perfectly well if you add them earlier in the cooking.",
            "The oven temperature matters more than people think, so an inexpensive oven thermometer is a wise investment.",
            "When {name} tested this recipe for us, half of the flour went in as wholemeal, and the result was lovely.",
            "Let the dish rest for about {n} minutes before cutting into it, otherwise it will fall apart on the plate.",
            "We bought most of the vegetables from the Saturday market in {town}, where the stallholders are always happy to give advice.",
            "Children can help with the measuring and mixing, which is a good way to get them interested in food.",
            "If you do not have a food processor, a sharp knife and a little extra time will do the same job.",
            "The first time I made this, I forgot the salt entirely, and it tasted flat and disappointing.",
            "A simple green salad with a sharp dressing is all you really need on the side.",
            "Most of the ingredients are probably already in your cupboard, which is a large part of the appeal.",
            "Cover the dish loosely with foil if the top starts to brown before the middle is cooked through.",
            "I usually double the quantities and give the second batch to a friend or a neighbour.",
            "For a vegetarian version, use a good vegetable stock and add a handful of red lentils.",
            "The recipe was adapted from a handwritten card that belonged to my grandmother, who cooked for a family of seven.",
            "Cheaper cuts of meat work well in slow cooking, as long as you give them enough time to become tender.",
            "One reader, {name}, wrote in to say that a pinch of smoked paprika makes the flavour even deeper.",
            "Do not worry if the top cracks a little as it cools, because that is part of its homemade charm.",
            "It is worth reading the whole method through once before you begin, so that nothing takes you by surprise.",
            "Buying spices in small amounts keeps them fresh, and most of them lose their flavour after a year.",
            "We served it at a family lunch last {month}, and there was not a single portion left by the evening.",
            "Using a kitchen timer saves a lot of guesswork, especially when several things are cooking at once.",
            "Eggs at room temperature blend more smoothly into the mixture, so take them out of the fridge early.",
            "A large wooden spoon and a sturdy mixing bowl are honestly the only special equipment you need.",
            "The whole batch cost us around {num} pounds for six generous portions, which feels very reasonable.",
            "If the sauce splits, whisk in a spoonful of cold water and it should come back together.",
            "Toasting the nuts in a dry pan for a couple of minutes brings out far more of their flavour.",
        ],
    },
    "travel": {
        "subjects": [
            "the Lake District", "the Scottish Highlands", "Lisbon", "Kyoto", "the Amalfi Coast",
            "Vancouver Island", "the Cotswolds", "Copenhagen", "the Yorkshire Dales", "Tasmania",
            "Prague", "Seville", "the Isle of Skye", "Ljubljana", "the Pembrokeshire coast",
        ],
        "titles": [
            "Three slow days in {subject}",
            "A first-timer's guide to {subject}",
            "What nobody tells you about visiting {subject}",
            "{Subject} on a modest budget",
            "Walking, eating and resting in {subject}",
            "Why we keep going back to {subject}",
            "{Subject} out of season: a short travel diary",
        ],
        "intros": [
            "We arrived in {subject} late on a {weekday} evening, tired from the journey but curious about what the next few days would bring.",
            "I had wanted to visit {subject} for years, and this spring we finally booked the tickets.",
            "Friends had told us that {subject} was best explored slowly, and they turned out to be right.",
            "Our trip to {subject} was planned in a hurry, which made the pleasant surprises all the more welcome.",
            "This is a short account of a week in {subject}, written for anyone who is thinking of going.",
            "Travelling to {subject} in {month} meant quieter streets, lower prices and a few chilly mornings.",
        ],
        "body": [
            "The train journey took longer than expected, but the views from the window more than made up for it.",
            "We stayed in a small family guesthouse where breakfast was served in a bright room overlooking the garden.",
            "Most of the sights are within walking distance of each other, so we rarely needed to take a taxi.",
            "It is worth getting up early at least once, because the light in the first hour of the day is remarkable.",
            "Our host, {name}, recommended a tiny restaurant that turned out to be the highlight of the trip.",
            "Public transport was clean, cheap and reliable, although the timetables took a little getting used to.",
            "We spent one whole afternoon doing nothing but reading in a quiet park, and it felt like a luxury.",
            "The local museum was free on {weekday} mornings and gave us a much better sense of the history of the area.",
            "Pack a light waterproof jacket even in summer, since the weather can change within minutes.",
            "A simple phrase or two in the local language is always appreciated and often met with a warm smile.",
            "The coastal path was steep in places, but the benches along the way offered plenty of chances to rest.",
            "We booked our rooms about {n} weeks ahead and still had a good choice of places to stay.",
            "Markets are the best place to try regional food, and the stallholders were happy to explain what everything was.",
            "There is a small bakery near the station that opens at six, and we went there every single morning.",
            "If you only have one day, choose a single neighbourhood and explore it properly rather than rushing around.",
            "Hiring bicycles for a day was one of the best decisions we made, as the cycle lanes were wide and well marked.",
            "We met a retired teacher on the ferry who told us stories about growing up on the island.",
            "The old town gets crowded around midday, so we saved it for the evening when the day visitors had left.",
            "Carrying a refillable water bottle saved us money, and there were public fountains on almost every square.",
            "Some of the smaller churches have beautiful painted ceilings, and entry usually costs only a small donation.",
            "We found that the tourist information office had better maps than anything we had downloaded in advance.",
            "On our last evening we climbed to the viewpoint above the town and watched the lights come on one by one.",
            "Travelling with children was easier than we feared, because there were playgrounds and picnic spots everywhere.",
            "The weather was mixed, with bright mornings followed by heavy showers in the late afternoon.",
            "Our total spending for the week came to roughly {num} pounds a day each, including food and transport.",
            "A guided walking tour on the first day helped us get our bearings and gave us ideas for the rest of the week.",
            "We tried to eat where the locals were eating, which usually meant small places with handwritten menus.",
            "The drive along the valley road was slow, with sheep wandering across it every few hundred metres.",
            "A few shops close for a long lunch in the afternoon, so it helps to plan your errands around that.",
            "Looking back, the moments we remember best were the unplanned ones, like a concert we stumbled upon in a courtyard.",
            "We left a day free at the end of the trip, which meant we could return to our favourite places.",
            "The youth hostel was surprisingly comfortable, with private rooms and a shared kitchen that was spotless.",
            "Our guidebook was ten years old, and several of the cafes it praised had long since closed.",
            "Booking the return ferry in advance was essential, as the later sailings were completely full.",
        ],
    },
    "gardening": {
        "subjects": [
            "tomatoes", "sweet peas", "a small vegetable patch", "garden compost", "climbing roses",
            "herbs on a windowsill", "spring bulbs", "young fruit trees", "a wildlife pond",
            "a tired lawn", "raised beds", "dahlias", "runner beans", "autumn leaves",
        ],
        "titles": [
            "Getting the best from {subject} this year",
            "A beginner's notes on {subject}",
            "{Subject}: what worked and what did not",
            "Simple jobs for {subject} this month",
            "Lessons learned from {subject}",
            "How we look after {subject} on a small plot",
        ],
        "intros": [
            "Every gardener has one job that tests their patience, and for me that job has always been {subject}.",
            "Last year I decided to pay more attention to {subject}, and the difference has been clear to see.",
            "A reader called {name} asked for advice on {subject}, so here is what I have learned over the years.",
            "Looking after {subject} does not need to be complicated, as long as you get a few basics right.",
            "Our allotment in {town} has taught us a great deal about {subject}, mostly through trial and error.",
            "With the days growing longer, it is a good moment to think about {subject}.",
        ],
        "body": [
            "Water in the early morning or the evening, so that less of it is lost to the heat of the day.",
            "A thick layer of mulch keeps the soil moist and cuts down on weeding for most of the summer.",
            "Most vegetables want at least six hours of sunshine, so watch how the light moves across the garden before planting.",
            "We raised our seedlings on a cool windowsill and moved them outside once the risk of frost had passed.",
            "Slugs were a problem in the wet spring, and a few beer traps did a surprisingly good job.",
            "Good soil is the foundation of everything, and adding well rotted compost each autumn makes a real difference.",
            "Pinching out the tips encourages bushier growth and many more flowers later in the season.",
            "Our neighbour {name} has grown the same variety for {n} years and saves the seed every autumn.",
            "It is tempting to plant everything at once, but sowing a little every two weeks gives a much longer harvest.",
            "Bees and hoverflies visit the flowers constantly, which helps the vegetable beds nearby as well.",
            "Tie the stems loosely to their supports, because tight ties can damage the plant as it grows.",
            "A cheap rain gauge helped us realise how little water the beds were getting during the dry spell.",
            "We lost a whole row to a late frost one year, and now we always keep some old sheets ready to cover them.",
            "Deadheading faded flowers once a week keeps the plants producing new blooms well into autumn.",
            "The local gardening club in {town} runs a plant swap every spring, and it is a great way to fill gaps cheaply.",
            "Heavy clay soil can be improved slowly by digging in organic matter and avoiding walking on the beds when wet.",
            "A small pond, even one made from an old washing up bowl, will attract frogs within a season.",
            "Label everything when you sow it, because you will not remember which row is which by the summer.",
            "Feed container plants every fortnight during the growing season, as their roots cannot search for nutrients.",
            "We leave a corner of the garden a little wild, with long grass and a pile of logs for insects.",
            "Pruning is best done on a dry day with clean, sharp tools, which reduces the risk of disease.",
            "If the leaves turn yellow from the bottom up, the plant is often short of nitrogen or simply thirsty.",
            "Our first harvest of the year came in late {month}, and it tasted all the sweeter for the wait.",
            "Crop rotation sounds complicated, but it simply means not growing the same family in the same bed each year.",
            "A wheelbarrow full of fallen leaves turns into wonderful leaf mould after a year or two in a wire cage.",
            "We planted a row of marigolds along the edge of the bed, and they seemed to keep the greenfly away.",
            "Sowing seeds too deep is one of the commonest mistakes, so check the packet and err on the shallow side.",
            "The greenhouse gets very hot by midday, so we open the door and the vents on every sunny morning.",
            "Hedges make far better homes for birds than fences, and they also shelter the garden from the wind.",
            "If you are short of space, many herbs and salad leaves grow happily in pots by the back door.",
            "The plants that struggled most were the ones we moved twice, which taught us to plan before digging.",
            "Spreading the work across the year means the garden never feels like an overwhelming chore.",
            "By the end of the summer we had more courgettes than we could eat, so the neighbours got a share.",
            "A notebook of sowing dates and results has become the most useful tool in our shed.",
        ],
    },
    "local_news": {
        "subjects": [
            "the new cycle path", "the library refurbishment", "the summer fair",
            "plans for the old cinema", "changes to the bus timetable", "the flood defences",
            "a new community garden", "the high street market", "the primary school centenary",
            "repairs to the river bridge", "the charity fun run", "the recycling centre",
            "the village hall roof", "the new health centre",
        ],
        "titles": [
            "Residents have their say on {subject}",
            "Council approves {subject} in {town}",
            "{Subject}: what happens next",
            "Volunteers step forward for {subject}",
            "Questions raised over {subject}",
            "Good news for {town} as work begins on {subject}",
        ],
        "intros": [
            "Residents of {town} packed into the village hall on {weekday} evening to hear the latest plans for {subject}.",
            "Councillors have given the green light to {subject}, after a consultation that ran for most of the winter.",
            "Work on {subject} is expected to start in {month}, according to a statement released by the town council.",
            "A group of local volunteers has been quietly working on {subject} for the past year, and the results are now on show.",
            "There was a lively debate at this week's parish meeting about {subject} and what it will mean for the town.",
            "Shopkeepers in {town} say they are cautiously optimistic about {subject}.",
        ],
        "body": [
            "The council said that the project would be paid for partly through a grant and partly through existing budgets.",
            "Several residents raised concerns about parking, and officers promised to look again at the proposals.",
            "A spokesperson for the town council described the scheme as a positive step for families and older people.",
            "Local businesses will be invited to a drop-in session at the library next {weekday} to ask questions.",
            "The plans have been on public display since {month}, and more than {num} written comments were received.",
            "Councillor {name} said that the aim was to make the town centre a more pleasant place to spend time.",
            "Some residents felt the consultation had been rushed, while others said it was long overdue.",
            "The work will be carried out in stages, so that the road remains open to traffic throughout.",
            "Volunteers from the community group have already collected several hundred signatures in support.",
            "The school's head teacher said the pupils were excited to be involved and had designed posters for the event.",
            "Organisers thanked the many local firms who had donated prizes, equipment and their time.",
            "A similar scheme in a neighbouring town was judged a success after its first year.",
            "Further details, including a map of the proposed route, are available from the council offices.",
            "Residents living nearby will receive a letter explaining what to expect while the work is under way.",
            "The final decision will be taken at the full council meeting later in the spring.",
            "The event raised more than {num} hundred pounds for the local hospice, beating last year's total.",
            "Older residents remember when the building was the busiest place in town on a {weekday} night.",
            "Police reminded drivers to take care near the school, where the speed limit has recently been lowered.",
            "The river rose sharply after heavy rain in {month}, flooding several gardens along the lower road.",
            "A temporary footpath will be provided, and signs will direct pedestrians around the works.",
            "The market has been running every {weekday} for more than a century, and traders hope to keep it that way.",
            "Several people at the meeting asked whether the new timetable would still serve the outlying villages.",
            "The library will move to a temporary home in the community centre while the building is closed.",
            "A public exhibition of old photographs of the town drew a steady stream of visitors over the weekend.",
            "Youth groups, choirs and the brass band will all perform on the main stage during the afternoon.",
            "The parish clerk said the accounts would be published online and at the post office for anyone to read.",
            "Engineers warned that the repairs had become urgent after an inspection found cracks in the stonework.",
            "The fun run attracted entrants of all ages, from toddlers in pushchairs to a runner in his eighties.",
            "Many residents said they would welcome more benches and shade along the riverside walk.",
            "The community garden now has raised beds, a small orchard and a shed built from recycled timber.",
            "A survey of shoppers found that most people arrive on foot or by bus rather than by car.",
            "The council has promised regular updates on its website and in the monthly newsletter.",
            "Anyone who wishes to volunteer is asked to contact the organisers by the end of the month.",
            "One long-standing resident, {name}, said they had seen many plans come and go but felt hopeful this time.",
        ],
    },
    "science": {
        "subjects": [
            "bird migration", "the winter night sky", "coral reefs", "soil bacteria", "solar eclipses",
            "honeybee navigation", "ocean currents", "volcanic islands", "the water cycle", "glaciers",
            "photosynthesis", "comets", "echolocation in bats", "tidal energy", "cloud formation",
        ],
        "titles": [
            "A plain guide to {subject}",
            "What scientists are learning about {subject}",
            "{Subject} explained for curious readers",
            "Five surprising facts about {subject}",
            "The quiet importance of {subject}",
            "Looking closer at {subject}",
        ],
        "intros": [
            "Few corners of the natural world are as quietly remarkable as {subject}, even if most of us rarely stop to think about it.",
            "Researchers have studied {subject} for well over a century, yet new findings continue to surprise them.",
            "When a reader asked us to explain {subject} in plain language, we thought it was a question worth answering properly.",
            "Understanding {subject} begins with a few simple ideas, which we will try to set out clearly here.",
            "A new study published this {month} has renewed interest in {subject}.",
            "Children often ask the best questions about {subject}, and many of them are still being investigated.",
        ],
        "body": [
            "The basic idea is simple, but the details turn out to be far more complicated than early researchers expected.",
            "Scientists usually begin with careful observation, recording what happens before trying to explain why it happens.",
            "Measurements taken over many years show a clear pattern, although there is still a good deal of variation from year to year.",
            "One useful way to picture the process is to imagine water flowing slowly downhill and finding the easiest route.",
            "Early studies relied on notebooks and simple instruments, while modern work often uses satellites and small electronic tags.",
            "Much of the energy involved comes, directly or indirectly, from the sun.",
            "Temperature plays a large part, and even small changes can have effects that spread through the whole system.",
            "A research team led by Dr {name} spent {n} years collecting data before publishing their first results.",
            "It is important to remember that a single study rarely settles a question on its own.",
            "Laboratory experiments can isolate one factor at a time, which is difficult to do in the natural world.",
            "Some of the most useful records come from volunteers who have kept careful notes in their own gardens.",
            "The scale of the process is hard to imagine, involving distances of thousands of kilometres.",
            "Computer models help researchers test ideas, but they are only as good as the measurements that go into them.",
            "Different species have found different solutions to the same problem, which is one of the fascinations of biology.",
            "The first written descriptions date from the early {year}s, although people had noticed the effect long before.",
            "Scientists often disagree about the details while agreeing about the overall picture.",
            "A good experiment is one that could, in principle, prove the original idea wrong.",
            "Seasonal changes are easy to see, but the slower changes over decades are much harder to detect.",
            "The results were checked by an independent group, who repeated the measurements with different equipment.",
            "Many of the instruments used today were first developed for quite different purposes.",
            "Careful long term monitoring has shown that the pattern is shifting slowly as conditions change.",
            "Students at a school in {town} contributed to the project by counting and photographing what they saw.",
            "There are still several open questions, and researchers are cautious about drawing firm conclusions.",
            "The same basic physics explains effects that look completely different at first glance.",
            "Good data depend on good record keeping, which is less glamorous than discovery but just as important.",
            "Understanding the process better could help with everything from farming to weather forecasting.",
            "Museums and universities hold collections that are still being studied more than a century after they were gathered.",
            "In simple terms, the system is always trying to move towards balance, even though it never quite gets there.",
            "Small differences in the starting conditions can lead to very different outcomes over time.",
            "It took many years of patient work before the first clear photographs were taken.",
            "Public talks and open days have helped explain the research to people who live near the study sites.",
            "The most important lesson may be how closely connected the different parts of the natural world really are.",
            "Some early ideas turned out to be wrong, but they still pointed researchers in useful directions.",
            "Anyone with a notebook and a little patience can make observations that are useful to science.",
        ],
    },
    "software": {
        "subjects": [
            "unit testing", "code review", "database indexes", "version control", "writing documentation",
            "container images", "API design", "application logging", "refactoring old code",
            "continuous integration", "caching", "error handling", "dependency updates", "on-call rotas",
        ],
        "titles": [
            "Practical notes on {subject}",
            "What our team learned about {subject}",
            "{Subject} without the jargon",
            "Common mistakes with {subject}, and how to avoid them",
            "A gentle introduction to {subject}",
            "Why we changed our approach to {subject}",
        ],
        "intros": [
            "Most teams agree that {subject} matters, but far fewer agree on how much time to spend on it.",
            "When our small team grew from three people to twelve, {subject} suddenly became a pressing concern.",
            "I have been writing software for a long time, and my views on {subject} have changed more than once.",
            "This article collects the practical lessons we have learned about {subject} over the past two years.",
            "A colleague, {name}, recently asked me how to get started with {subject}, and this post is my longer answer.",
            "There is a lot of advice about {subject} online, and much of it assumes a very large organisation.",
        ],
        "body": [
            "The first step is to agree on what problem you are actually trying to solve.",
            "Small changes are easier to review, easier to test and much easier to undo when something goes wrong.",
            "We found that writing things down, even briefly, saved hours of repeated explanations later.",
            "Automating the boring parts freed the team to spend more time on the problems that needed real thought.",
            "It is tempting to build a perfect system from the start, but a simple one that works is far more valuable.",
            "Every tool has a cost, and that cost includes the time it takes new people to learn it.",
            "A good error message tells the reader what went wrong and what they can do about it.",
            "We measure how long it takes for a change to reach users, and we try to keep that number low.",
            "Naming things clearly is still one of the hardest and most important parts of the job.",
            "Our rule is that anything done by hand more than three times should probably be automated.",
            "When something breaks, the goal of the review is to improve the system rather than to blame a person.",
            "Older code is not necessarily bad code, and it often contains lessons that are not written down anywhere else.",
            "Tests are most useful when they describe behaviour that users actually care about.",
            "We keep a short list of known problems, and we review it together every {weekday} morning.",
            "Performance problems are usually found in a small number of places, so measure before changing anything.",
            "The team in {town} adopted the new process first, and their experience shaped how the rest of us used it.",
            "A checklist may feel old fashioned, but it prevents many small and avoidable mistakes.",
            "Pairing with a colleague for an hour can solve a problem that has stalled for days.",
            "Clear ownership matters, because problems that belong to everyone tend to be fixed by no one.",
            "We stopped adding features for {n} weeks and spent the time paying down technical debt.",
            "Good documentation explains why a decision was made, not only what the decision was.",
            "Rolling changes out gradually lets you spot problems before they affect everyone.",
            "The simplest design that meets today's needs is usually easier to change tomorrow.",
            "Monitoring should tell you about problems before your users do.",
            "When we looked at the numbers, most of our outages had been caused by configuration changes.",
            "Reading other people's code is a skill in its own right, and it improves with practice.",
            "Backups are only useful if you have tried restoring them, so we practise that every quarter.",
            "It helps to keep a record of decisions in the same place as the code they affect.",
            "Upgrading a little at a time is far less painful than one enormous upgrade every few years.",
            "New team members often spot problems that everyone else has stopped noticing.",
            "We ask every reviewer to leave at least one comment about what was done well.",
            "Estimates are always uncertain, and it is better to say so openly than to pretend otherwise.",
            "A quiet, well understood system is worth more than a clever one that nobody dares to touch.",
            "Our onboarding guide now fits on two pages, and new starters say it is the first thing they read.",
        ],
    },
    "history": {
        "subjects": [
            "the village mill", "medieval market towns", "the canal network", "Victorian railways",
            "the old lighthouse", "a Roman road", "wartime evacuees", "the parish church",
            "coaching inns", "the town's first library", "the wool trade", "Tudor manor houses",
            "the local brickworks", "the old grammar school",
        ],
        "titles": [
            "The story of {subject}",
            "Remembering {subject}",
            "{Subject}: a short history",
            "What the records tell us about {subject}",
            "Rediscovering {subject} in {town}",
            "Everyday life and {subject}",
        ],
        "intros": [
            "Walk through {town} today and it is easy to miss the traces of {subject}, but they are there if you know where to look.",
            "Our society's latest research project has focused on {subject}, using parish records, maps and old photographs.",
            "Local historian {name} has spent many years gathering stories about {subject}, and this article draws on that work.",
            "The history of {subject} is closely bound up with the growth of the town itself.",
            "Few subjects generate as many letters from our members as {subject}.",
            "This short account of {subject} was first given as a talk to the history society in {month}.",
        ],
        "body": [
            "The earliest surviving record is a brief entry in a tax list, which mentions the site but gives few details.",
            "By the middle of the century, the business employed several dozen people from the surrounding villages.",
            "Old maps show how the streets grew outwards from the market place over several hundred years.",
            "Many of the buildings were constructed from stone quarried only a short distance away.",
            "The arrival of the railway in the {year}s changed the town almost beyond recognition.",
            "Parish registers record baptisms, marriages and burials, and they are a treasure for family historians.",
            "A fire in the late eighteenth century destroyed much of the original building, which was rebuilt soon afterwards.",
            "Letters kept by one local family describe daily life in vivid detail, from the price of bread to the state of the roads.",
            "The trade brought considerable wealth to a few merchants, whose fine houses still stand on the main street.",
            "Children often worked from a young age, and schooling was irregular until the later part of the century.",
            "A photograph from around {year} shows the building decorated with flags for a royal celebration.",
            "The records are incomplete, so some of the story must be pieced together from indirect evidence.",
            "Members of the society spent {n} months transcribing the old accounts, line by line.",
            "The building later served as a warehouse, a school and a meeting hall before being restored.",
            "Local newspapers are an invaluable source, although they reflect the opinions of their owners.",
            "Travellers in the past often complained about the poor state of the roads, especially in winter.",
            "The population of the parish doubled in fifty years as new industries brought work to the area.",
            "A stone plaque above the doorway records the name of the builder and the year the work was finished.",
            "Oral history interviews with older residents have added a great deal that the written records leave out.",
            "The decline came gradually, as cheaper goods arrived from larger towns by rail.",
            "Archaeologists working near {town} found pottery fragments that suggest people lived on the site much earlier than thought.",
            "Market day was the busiest day of the week, drawing farmers and traders from miles around.",
            "The original plans are held in the county archive and can be viewed by appointment.",
            "Some family names appear in the records for more than three hundred years.",
            "The society would be pleased to hear from anyone who has photographs or documents relating to this subject.",
            "After the war, many of the older buildings were demolished to make way for new housing.",
            "It is remarkable how much can be learned from something as ordinary as a shopkeeper's account book.",
            "The bell in the tower was cast in the {year}s and still rings on special occasions.",
            "A local schoolmaster kept a diary for over forty years, noting the weather, the harvest and local events.",
            "The canal carried coal, stone and grain until the last commercial boat made its journey in the last century.",
            "Volunteers cleared the overgrown site in {month}, revealing foundations that had been hidden for decades.",
            "Historians continue to debate exactly when the first settlement was established.",
            "The story is a reminder that every ordinary street has a long and interesting past.",
            "Copies of the booklet are available from the museum shop and the town library.",
        ],
    },
    "sport": {
        "subjects": [
            "the local cricket club", "Sunday league football", "the weekly parkrun", "amateur cycling",
            "the rugby season", "learning to swim as an adult", "the village tennis tournament",
            "rowing on the river", "junior netball", "training for a first marathon", "club hockey",
            "indoor bowls", "fell running", "the county athletics meeting",
        ],
        "titles": [
            "A season to remember for {subject}",
            "Inside {subject}",
            "{Subject}: results, highlights and thanks",
            "Getting started with {subject}",
            "Why {subject} means so much to {town}",
            "Notes from the touchline on {subject}",
        ],
        "intros": [
            "It has been a season of ups and downs for {subject}, but the final weeks brought plenty to celebrate.",
            "Anyone who thinks {subject} is only for the young should meet some of the people involved in {town}.",
            "This report looks back on a busy month for {subject}, with results, memorable moments and a few thank yous.",
            "I came to {subject} late in life, and I wish somebody had told me sooner how enjoyable it could be.",
            "Volunteers are the heart of {subject}, and this year more people than ever gave up their time.",
            "The sun finally came out on {weekday} afternoon, just in time for the biggest day of the year for {subject}.",
        ],
        "body": [
            "The first half was tight and cautious, with neither side willing to take many risks.",
            "Training takes place every {weekday} evening, and newcomers are always welcome to come along and watch.",
            "Our captain, {name}, led by example and was rightly named player of the match.",
            "The club relies entirely on volunteers, from the coaches to the people who make the teas.",
            "Heavy rain earlier in the week left the pitch soft, which slowed the game down considerably.",
            "The junior section has grown quickly, and there are now teams for every age group.",
            "A late equaliser sent the home supporters into raptures and earned a well deserved point.",
            "Warming up properly and stretching afterwards has kept most of our players free from injury.",
            "The final score did not really reflect how closely fought the contest had been.",
            "Several of our players achieved personal bests, which was the real highlight of the day.",
            "We finished the season in {n} place, which was our best result for a decade.",
            "The clubhouse has been repainted by members over the winter, and it looks better than it has for years.",
            "Spectators lined the route and cheered every runner, whether they were first or last.",
            "Our coach always says that enjoying the game matters more than winning it, and the players clearly agree.",
            "A local business has kindly sponsored new kit for the under twelves.",
            "The away fixture in {town} is always a tough one, and this year was no exception.",
            "Good communication on the field made all the difference in the closing minutes.",
            "New members do not need any equipment at first, as the club has plenty to lend.",
            "Fundraising events over the year paid for a new roller, nets and a set of practice balls.",
            "It was wonderful to see three generations of one family playing in the same match.",
            "The weather stayed dry, and a crowd of more than {num} people turned up to watch.",
            "After a slow start, the team found its rhythm and scored twice in ten minutes.",
            "Club members are running a beginners course in {month} for anyone who wants to try the sport.",
            "Fitness sessions over the winter helped the squad stay sharp for the new season.",
            "The annual awards evening will be held at the club in early summer, and tickets are on sale now.",
            "Several former players came back to help with coaching, which the youngsters really appreciated.",
            "Rest days are just as important as training days, especially for newcomers.",
            "There was a lovely moment at the end when both teams applauded each other off the field.",
            "The league table is very close this year, and every point will count in the final weeks.",
            "Our thanks go to the groundsman, who worked for hours to get the pitch ready.",
            "We are always looking for umpires and referees, and the club will pay for the training course.",
            "She crossed the line in just under four hours and said the crowd had carried her through the last mile.",
            "Match reports and photographs from every game are posted on the club noticeboard.",
            "Whatever the result, the friendships made through the club last long after the final whistle.",
        ],
    },
    "health": {
        "subjects": [
            "daily walking", "sleep", "hydration", "desk stretches", "winter colds", "breakfast",
            "posture", "screen time", "everyday stress", "hay fever", "health check-ups",
            "cycling to work", "exercise after fifty", "eating more vegetables",
        ],
        "titles": [
            "Our nurse answers your questions on {subject}",
            "A practical guide to {subject}",
            "{Subject}: simple habits that help",
            "What the evidence says about {subject}",
            "{Subject} and everyday life",
            "Questions readers ask about {subject}",
        ],
        "intros": [
            "Most of us have heard plenty of advice about {subject}, but turning advice into habit is another matter.",
            "This guide to {subject} is meant for general interest and is not a substitute for advice from your own doctor.",
            "After a long winter, many readers wrote to ask about {subject}, so we asked our practice nurse for some pointers.",
            "Getting {subject} right rarely requires expensive equipment or dramatic changes to your routine.",
            "Our health writer, {name}, spent a month paying close attention to {subject}, and this is what came out of it.",
            "Few subjects bring in as many questions from readers as {subject}.",
        ],
        "body": [
            "Start small and build up gradually, because sudden changes are hard to keep going.",
            "If you have any ongoing health condition, it is sensible to talk to your doctor before changing your routine.",
            "A regular bedtime, even at weekends, helps the body settle into a steady rhythm.",
            "Drinking water throughout the day is easier if you keep a glass or bottle within reach.",
            "Many people find that a short walk after lunch leaves them feeling more alert in the afternoon.",
            "Fruit and vegetables of different colours provide a wider range of vitamins and fibre.",
            "It is normal to have good days and bad days, so try not to be discouraged by a single setback.",
            "Taking a short break from the screen every half hour can help reduce eye strain.",
            "Our practice nurse, {name}, says the most useful habit is simply noticing how you feel.",
            "Gentle stretching in the morning can ease the stiffness that comes from a night's sleep.",
            "Going outside in daylight, even on a cloudy day, seems to help many people sleep better at night.",
            "Keeping a simple diary for {n} days can reveal patterns that are otherwise easy to miss.",
            "Washing your hands regularly remains one of the most effective ways to avoid catching a cold.",
            "Pharmacists can offer helpful advice on minor ailments, and you do not need an appointment.",
            "Sitting in the same position for hours puts strain on the back and neck, so get up and move regularly.",
            "Cooking at home makes it easier to know exactly what is in your food.",
            "A walking group in {town} meets every {weekday} morning and welcomes people of all abilities.",
            "Caffeine late in the day can affect sleep, even if you do not notice it straight away.",
            "Talking to a friend about a worry often makes it feel more manageable.",
            "Stairs instead of the lift, or one stop earlier off the bus, all add up over the course of a week.",
            "It is worth checking that your chair and desk are set at a comfortable height.",
            "Pollen counts tend to be highest on warm, dry and breezy days.",
            "A balanced breakfast helps many people avoid reaching for snacks in the middle of the morning.",
            "Regular check-ups can pick up problems early, when they are often easier to treat.",
            "Setting a realistic goal is far more motivating than aiming for perfection.",
            "Cycling to work took {name} about twenty minutes longer at first, but the time soon came down.",
            "Hobbies that absorb your attention, such as gardening or music, can be a welcome break from daily worries.",
            "Sleep needs vary from person to person, and there is no single right number of hours for everyone.",
            "Swapping a sugary drink for water or milk is a small change that makes a real difference over time.",
            "A good pair of shoes makes walking much more comfortable, especially on longer routes.",
            "If symptoms persist or get worse, it is always best to seek advice from a health professional.",
            "Many community centres run free or low cost classes, from chair exercises to dance.",
            "Looking after your health is a long term project, and small steady steps usually work best.",
            "Keeping a fruit bowl on the table rather than in the cupboard made us eat far more of it.",
        ],
    },
    "finance": {
        "subjects": [
            "a monthly budget", "an emergency fund", "saving for a holiday", "household energy bills",
            "comparing insurance quotes", "pocket money for children", "paying off a credit card",
            "pension basics", "buying second-hand furniture", "meal planning on a budget",
            "switching bank accounts", "tracking subscriptions", "saving for a first home",
        ],
        "titles": [
            "A straightforward guide to {subject}",
            "How we tackled {subject}",
            "{Subject}: where to begin",
            "Seven tips for {subject}",
            "The honest truth about {subject}",
            "Getting on top of {subject} this year",
        ],
        "intros": [
            "Money can be a stressful subject, so this guide to {subject} tries to keep things simple and practical.",
            "When we sat down to look at {subject} last {month}, we were surprised by how much we had been overlooking.",
            "A reader named {name} wrote in asking about {subject}, and it seemed like a good topic for a longer article.",
            "There is no single right way to approach {subject}, but a few principles apply to almost everyone.",
            "Getting to grips with {subject} can feel daunting at first, but it becomes easier with each small step.",
            "Rising prices have made many households think again about {subject}.",
        ],
        "body": [
            "Start by writing down everything that comes in and goes out over a typical month.",
            "Small regular savings add up surprisingly quickly, especially if they happen automatically on payday.",
            "It is worth checking your bank statements for subscriptions you no longer use.",
            "Comparing prices takes a little time, but the savings can be significant over a year.",
            "An emergency fund of even a few hundred pounds can prevent a small problem from becoming a large one.",
            "Paying off the most expensive debt first usually saves the most money in interest.",
            "We set aside one evening a month to review our spending, and it takes less than an hour.",
            "Buying good quality second-hand items is often better value than buying cheap new ones.",
            "Planning meals for the week reduced our food waste and cut our shopping bill noticeably.",
            "If you are struggling with debt, free and confidential advice is available from several charities.",
            "Our neighbour {name} keeps a simple spreadsheet with just five categories, and swears by it.",
            "Energy use tends to rise sharply in winter, so it helps to spread the cost across the year.",
            "Before signing any agreement, read the small print carefully and ask questions if anything is unclear.",
            "Teaching children about money early helps them build good habits that last a lifetime.",
            "Setting a clear goal, such as a holiday or a new boiler, makes saving feel more rewarding.",
            "Many employers add to workplace pension contributions, which is effectively extra pay.",
            "Switching providers is usually straightforward, and the new company often handles most of the work.",
            "A cash envelope for weekly spending helped us see exactly where the money was going.",
            "We saved around {num} pounds a month simply by cancelling services we had forgotten about.",
            "Impulse purchases are easier to resist if you wait {n} days before buying anything non-essential.",
            "It is sensible to keep important documents together in one place, so they are easy to find.",
            "Insurance is about protecting against the costs you could not afford to cover yourself.",
            "Cooking in larger batches and freezing portions saved us both time and money.",
            "Interest rates change over time, so it is worth reviewing your savings account once a year.",
            "Talking openly about money within a household can prevent misunderstandings and worry.",
            "Local libraries often run free workshops on budgeting and managing household bills.",
            "A budget is not meant to be a punishment, but a plan that reflects what matters to you.",
            "Keeping receipts for larger purchases makes returns and warranty claims much simpler.",
            "Check whether you are entitled to any discounts or support, as many people miss out.",
            "The credit union in {town} offers small savings accounts with no fees.",
            "Progress may feel slow at first, but every month of steady saving builds a stronger position.",
            "We found that turning the thermostat down by one degree barely changed our comfort.",
            "Before any large purchase, it helps to ask whether you will still value it in a year's time.",
            "Automatic payments for regular bills mean you are far less likely to miss a due date.",
        ],
    },
}

EN_CLOSERS = [
    "Thanks for reading, and feel free to share your own experiences with us.",
    "We will return to this subject in a future article, so do keep an eye on this page.",
    "As always, we would love to hear what you think.",
    "If you have questions, you can write to us using the contact page.",
    "We hope this has been useful, and we look forward to hearing how you get on.",
    "More articles on similar subjects can be found in our archive.",
    "Our thanks go to everyone who helped with this piece.",
    "Until next time, take care and enjoy the rest of the season.",
]

EN_TOPIC_LABELS = {
    "cooking": "Recipes", "travel": "Travel", "gardening": "Gardening", "local_news": "Local news",
    "science": "Science", "software": "Technology", "history": "History", "sport": "Sport",
    "health": "Health", "finance": "Money",
}

EN_COMMENTS = [
    ("Margaret", "Really enjoyed reading this, thank you for taking the time to write it all up."),
    ("Steve H", "Really helpful post. I had been doing it the other way for years!"),
    ("Anna", "Lovely write-up. Do you have any plans for a follow-up piece?"),
    ("Rob", "Great photos as always. Looking forward to the next one."),
    ("Kate from Leeds", "We tried this last summer and it was exactly as you described."),
    ("Jonathan", "Thanks, this answered the question I came here with."),
]

# ---------------------------------------------------------------------------------------------
# Other languages: each bank is a "local life" column (market, library, garden, outings,
# recipes, sport) so that any sample of its sentences reads like a weekly round-up.  Banks used
# for iso-8859-1 pages (de, es, it, pt) keep to Latin-1 characters; the Russian one avoids
# characters KOI8-R lacks (guillemets, dashes); the Japanese one keeps to JIS X 0208.
# ---------------------------------------------------------------------------------------------
LANG_BANKS = {
    "fr": {
        "towns": ["Annecy", "Dinan", "Colmar", "Sarlat", "Uzès", "Honfleur", "Millau", "Figeac", "Vannes", "Pontarlier"],
        "titles": [
            "Nos conseils pour réussir une tarte aux pommes maison",
            "Le marché du samedi fait peau neuve",
            "Une semaine à vélo le long de la Loire",
            "Comment préparer son potager pour le printemps",
            "La bibliothèque municipale rouvre ses portes après travaux",
            "Trois randonnées faciles dans le Vercors",
            "Le retour des concerts en plein air cet été",
            "Cuisiner de saison : les légumes oubliés de l’hiver",
            "Les secrets d’un bon pain de campagne",
            "Visite guidée du vieux port et de ses ruelles",
            "Le club de football local fête ses cinquante ans",
            "Économiser l’énergie à la maison sans se priver",
            "Une journée au bord du lac avec les enfants",
        ],
        "sentences": [
            "Le marché du samedi matin à {town} attire chaque semaine des centaines de visiteurs venus de toute la région.",
            "Les producteurs locaux proposent des fruits et des légumes cueillis la veille, à des prix souvent très raisonnables.",
            "Pour réussir cette recette, il faut surtout prendre son temps et choisir de bons ingrédients.",
            "La pâte doit reposer au moins une heure au réfrigérateur avant d’être étalée.",
            "Nous avons quitté la ville très tôt le matin, alors que les rues étaient encore calmes.",
            "Le sentier longe la rivière pendant plusieurs kilomètres avant de monter doucement vers le village.",
            "Les enfants de l’école primaire ont participé à la plantation d’une vingtaine d’arbres dans le parc.",
            "Selon le maire de {town}, les travaux devraient être terminés avant la fin de l’été.",
            "Il est conseillé de réserver sa place à l’avance, car le nombre de participants est limité.",
            "Les tomates aiment la chaleur et le soleil, mais elles ont aussi besoin d’un arrosage régulier.",
            "Au printemps, on peut semer les radis, les carottes et les petits pois directement en pleine terre.",
            "Cette petite église romane mérite vraiment le détour, surtout en fin de journée.",
            "Le musée propose des visites guidées gratuites le premier dimanche de chaque mois.",
            "Les habitants du quartier se sont réunis mardi soir pour discuter du nouveau plan de circulation.",
            "Un bon pain de campagne demande de la farine de qualité, de l’eau, du sel et beaucoup de patience.",
            "Après le repas, nous avons pris un café sur la terrasse en regardant les bateaux rentrer au port.",
            "La saison des pluies a été particulièrement longue cette année, ce qui a retardé les récoltes.",
            "Les bénévoles de l’association se retrouvent tous les jeudis pour préparer les colis alimentaires.",
            "Il suffit parfois de baisser le chauffage d’un degré pour réduire sensiblement sa facture.",
            "Le club compte aujourd’hui plus de deux cents licenciés, dont beaucoup de jeunes joueurs.",
            "Les concerts auront lieu sur la place de la mairie, et l’entrée sera libre pour tout le monde.",
            "Nous avons dormi dans une petite auberge tenue par une famille très accueillante.",
            "Pensez à emporter de l’eau, un chapeau et de bonnes chaussures de marche.",
            "Les pommes un peu acides donnent les meilleurs résultats pour les tartes et les compotes.",
            "La bibliothèque dispose désormais d’un espace pour les enfants et d’une salle de lecture plus lumineuse.",
            "Le vieux port a gardé tout son charme, avec ses façades colorées et ses ruelles étroites.",
            "Les légumes racines, comme le panais ou le topinambour, reviennent à la mode dans les cuisines.",
            "Chaque participant repartira avec un petit livret de recettes préparé par les cuisiniers du village.",
            "La météo annonce un week-end ensoleillé, idéal pour une balade en famille autour de {town}.",
            "Le compost permet de recycler les déchets de cuisine tout en nourrissant la terre du jardin.",
            "Les commerçants espèrent que la nouvelle piste cyclable attirera davantage de clients dans le centre.",
            "On peut conserver cette soupe plusieurs jours au frais, ou la congeler en petites portions.",
            "Le prix du panier de légumes reste fixé à douze euros, comme l’année dernière.",
            "Toutes les informations pratiques sont disponibles sur le site de la commune.",
        ],
    },
    "de": {
        "towns": ["Wangen", "Lindau", "Bamberg", "Celle", "Lüneburg", "Marburg", "Tübingen", "Quedlinburg", "Wismar", "Landshut"],
        "titles": [
            "Wochenmarkt zieht in die Altstadt um",
            "Tipps für den Gemüsegarten im Frühling",
            "Eine Radtour entlang der Mosel",
            "Die Stadtbibliothek öffnet nach dem Umbau wieder",
            "Apfelkuchen wie bei Oma: unser Lieblingsrezept",
            "Sommerfest im Stadtpark lockt viele Besucher",
            "Wandern im Allgäu: drei leichte Touren",
            "Der Sportverein feiert sein hundertjähriges Bestehen",
            "Energie sparen im Haushalt ohne großen Aufwand",
            "Neue Buslinie verbindet die Dörfer mit der Stadt",
            "Ein Wochenende in Hamburg mit Kindern",
            "Brot backen mit Sauerteig: so gelingt es",
            "Herbstzeit ist Kürbiszeit: einfache Rezepte",
        ],
        "sentences": [
            "Der Wochenmarkt in {town} findet jeden Samstag von sieben bis dreizehn Uhr auf dem Rathausplatz statt.",
            "Viele Bauern aus der Umgebung verkaufen dort Obst, Gemüse, Käse und frisches Brot.",
            "Für den Teig braucht man nur Mehl, Butter, Zucker, Eier und eine Prise Salz.",
            "Der Kuchen sollte vollständig abkühlen, bevor man ihn in Stücke schneidet.",
            "Wir sind früh am Morgen losgefahren, als die Straßen noch leer und ruhig waren.",
            "Der Radweg führt fast immer direkt am Fluss entlang und ist auch für Familien gut geeignet.",
            "Nach dem Umbau bietet die Bibliothek mehr Platz, hellere Räume und eine eigene Ecke für Kinder.",
            "Die Bauarbeiten sollen nach Angaben der Stadt {town} bis zum Ende des Sommers abgeschlossen sein.",
            "Im Frühling kann man Radieschen, Möhren und Erbsen direkt ins Beet säen.",
            "Tomaten brauchen viel Sonne und Wärme, aber auch regelmäßig Wasser.",
            "Der Verein hat inzwischen mehr als dreihundert Mitglieder, darunter viele Kinder und Jugendliche.",
            "Zum Sommerfest kamen trotz des wechselhaften Wetters mehrere tausend Besucher in den Park.",
            "Auf der Bühne spielten den ganzen Nachmittag Musikgruppen aus der Region.",
            "Wer Energie sparen möchte, sollte zuerst die Heizung um ein Grad herunterdrehen.",
            "Geräte im Standby verbrauchen oft mehr Strom, als man denkt.",
            "Die neue Buslinie fährt werktags jede halbe Stunde und am Wochenende jede Stunde.",
            "Viele ältere Menschen in den Dörfern haben lange auf eine bessere Verbindung gewartet.",
            "Unterwegs haben wir in einem kleinen Gasthof übernachtet, der von einer freundlichen Familie geführt wird.",
            "Festes Schuhwerk, eine Regenjacke und genug Wasser sollte man bei jeder Wanderung dabeihaben.",
            "Von der Hütte aus hat man bei klarem Wetter einen herrlichen Blick über die Berge.",
            "Der Sauerteig muss über Nacht an einem warmen Ort ruhen, damit das Brot schön locker wird.",
            "Die Kinder waren vom Hafen und den großen Schiffen besonders begeistert.",
            "Im Museum gibt es jeden ersten Sonntag im Monat kostenlose Führungen.",
            "Die Anwohner konnten ihre Fragen am Dienstagabend direkt an den Bürgermeister richten.",
            "Ehrenamtliche Helfer haben im Herbst über fünfzig junge Bäume entlang des Weges gepflanzt.",
            "Kompost ist ein guter Weg, Küchenabfälle sinnvoll zu verwerten und den Boden zu verbessern.",
            "Die Eintrittskarten sind ab sofort im Bürgerbüro und online erhältlich.",
            "Nach dem Spiel trafen sich beide Mannschaften noch zu einem gemeinsamen Essen im Vereinsheim.",
            "Der Wetterdienst erwartet für das Wochenende rund um {town} viel Sonne und angenehme Temperaturen.",
            "Einige Geschäfte in der Innenstadt haben ihre Öffnungszeiten an die neuen Markttage angepasst.",
            "Die Suppe lässt sich gut einfrieren und schmeckt am nächsten Tag oft noch besser.",
            "Wer mehr erfahren möchte, findet alle Informationen auf der Internetseite der Gemeinde.",
            "Den Kürbis schneidet man am besten in grobe Stücke und röstet ihn mit etwas Öl im Ofen.",
        ],
    },
    "es": {
        "towns": ["Tudela", "Ronda", "Teruel", "Betanzos", "Cuenca", "Zafra", "Olot", "Jaca", "Llanes", "Úbeda"],
        "titles": [
            "El mercado de los sábados se renueva",
            "Cómo preparar una tortilla de patatas perfecta",
            "Una semana recorriendo la costa gallega",
            "La biblioteca municipal reabre sus puertas",
            "Consejos para empezar un huerto en casa",
            "Las fiestas del barrio llenan las calles de música",
            "Tres rutas de senderismo para toda la familia",
            "El club de baloncesto celebra su aniversario",
            "Ideas sencillas para ahorrar energía en casa",
            "Un fin de semana en Granada",
            "El nuevo carril bici une el centro con el río",
            "Recetas de otoño con calabaza y castañas",
        ],
        "sentences": [
            "El mercado de los sábados en {town} reúne cada semana a decenas de productores de la comarca.",
            "Las frutas y verduras se recogen el día anterior y se venden a precios muy razonables.",
            "Para que la tortilla quede jugosa, conviene cocinar las patatas a fuego lento durante un buen rato.",
            "Muchos cocineros añaden cebolla, aunque en algunas familias esa costumbre provoca largas discusiones.",
            "Salimos muy temprano por la mañana, cuando las calles todavía estaban tranquilas.",
            "El sendero sigue el curso del río durante varios kilómetros antes de subir hacia el pueblo.",
            "La biblioteca cuenta ahora con una sala infantil, más ordenadores y un horario más amplio.",
            "Según el ayuntamiento de {town}, las obras terminarán antes de que empiece el verano.",
            "En primavera se pueden sembrar directamente en la tierra rábanos, zanahorias y guisantes.",
            "Los tomates necesitan mucho sol, pero también un riego regular y constante.",
            "El club cuenta hoy con más de doscientos socios, muchos de ellos niños y jóvenes.",
            "Durante las fiestas, las calles del barrio se llenan de música, puestos de comida y actividades para los pequeños.",
            "Es recomendable llevar agua, gorra y un calzado cómodo para caminar.",
            "Bajar un grado la calefacción puede suponer un ahorro notable a final de mes.",
            "Dormimos en una pequeña posada familiar donde nos trataron como si fuéramos de casa.",
            "Desde el mirador se ve toda la ciudad, sobre todo al atardecer.",
            "Los vecinos se reunieron el martes por la tarde para hablar del nuevo plan de tráfico.",
            "Los voluntarios de la asociación preparan cada jueves cajas de alimentos para las familias que lo necesitan.",
            "La calabaza asada con un poco de aceite y romero es una guarnición sencilla y deliciosa.",
            "El museo ofrece visitas guiadas gratuitas el primer domingo de cada mes.",
            "Los comerciantes esperan que el carril bici atraiga a más clientes al centro.",
            "El equipo juvenil ganó el torneo provincial después de una final muy reñida.",
            "Las castañas se pueden asar en el horno si se les hace antes un pequeño corte.",
            "El tiempo ha sido muy lluvioso este año y la cosecha se ha retrasado varias semanas.",
            "Los niños disfrutaron especialmente del puerto y de los barcos de pesca.",
            "Conviene reservar con antelación, porque el número de plazas es limitado.",
            "El compost permite aprovechar los restos de cocina y mejorar la tierra del huerto.",
            "Por la noche cenamos en una terraza junto a la plaza mayor, rodeados de familias y vecinos.",
            "Las entradas para los conciertos ya están a la venta en la oficina de turismo de {town}.",
            "La nueva línea de autobús conectará los pueblos de la sierra con el hospital comarcal.",
            "Según la previsión, el fin de semana será soleado y con temperaturas agradables.",
            "Toda la información está disponible en la página web del ayuntamiento.",
            "¿Quién no recuerda el olor del pan recién hecho en la panadería de la esquina?",
        ],
    },
    "it": {
        "towns": ["Cortona", "Bra", "Asolo", "Spello", "Fidenza", "Chiavari", "Feltre", "Bassano", "Urbino", "Sulmona"],
        "titles": [
            "Il mercato del sabato torna in piazza",
            "La ricetta della nonna per il ragù della domenica",
            "In bicicletta lungo il Po: diario di viaggio",
            "La biblioteca comunale riapre dopo i lavori",
            "Come preparare l'orto per la primavera",
            "Festa del paese: musica e sapori fino a tarda sera",
            "Tre passeggiate facili sulle colline toscane",
            "La squadra di pallavolo festeggia la promozione",
            "Risparmiare energia in casa con piccoli gesti",
            "Un fine settimana a Torino con i bambini",
            "Il nuovo parco cittadino piace ai residenti",
            "Pane fatto in casa con il lievito madre",
        ],
        "sentences": [
            "Il mercato del sabato a {town} richiama ogni settimana centinaia di persone dai paesi vicini.",
            "I produttori locali vendono frutta e verdura raccolta il giorno prima, a prezzi davvero convenienti.",
            "Il ragù deve cuocere a fuoco basso per almeno tre ore, mescolando di tanto in tanto.",
            "Per un buon risultato bisogna scegliere ingredienti di qualità e avere molta pazienza.",
            "Siamo partiti presto la mattina, quando le strade erano ancora vuote e silenziose.",
            "La pista ciclabile segue l'argine del fiume ed è adatta anche alle famiglie con bambini.",
            "Dopo i lavori la biblioteca ha sale più luminose, nuovi computer e uno spazio dedicato ai ragazzi.",
            "Secondo il sindaco di {town}, il cantiere dovrebbe chiudersi entro la fine dell'estate.",
            "In primavera si possono seminare ravanelli, carote e piselli direttamente nell'orto.",
            "I pomodori amano il sole e il caldo, ma hanno bisogno anche di annaffiature regolari.",
            "Alla festa del paese hanno partecipato migliaia di persone, nonostante il tempo incerto.",
            "Sul palco si sono alternati gruppi musicali della zona fino a tarda sera.",
            "È consigliabile portare acqua, un cappello e scarpe comode per camminare.",
            "Abbassare il riscaldamento di un grado permette di risparmiare parecchio in bolletta.",
            "Abbiamo dormito in un piccolo agriturismo gestito da una famiglia molto ospitale.",
            "Dalla cima della collina si gode una vista splendida sulla valle e sui vigneti.",
            "I residenti si sono riuniti martedì sera per discutere del nuovo piano del traffico.",
            "I volontari dell'associazione preparano ogni giovedì i pacchi alimentari per le famiglie in difficoltà.",
            "La squadra ha vinto lo spareggio davanti a un pubblico numeroso e molto caloroso.",
            "Il museo offre visite guidate gratuite la prima domenica di ogni mese.",
            "Il pane con il lievito madre richiede tempo, ma il profumo che riempie la cucina ripaga ogni sforzo.",
            "I bambini si sono divertiti soprattutto al museo del cinema e lungo il fiume.",
            "Conviene prenotare in anticipo, perché i posti disponibili sono pochi.",
            "Il compost permette di recuperare gli scarti di cucina e di nutrire la terra.",
            "La sera abbiamo cenato in una trattoria sotto i portici, dove si mangia ancora come una volta.",
            "Nel nuovo parco di {town} ci sono panchine, alberi giovani e un'area giochi molto frequentata.",
            "Le previsioni annunciano un fine settimana di sole con temperature piacevoli.",
            "Molti negozi del centro hanno deciso di restare aperti anche la domenica mattina.",
            "Il sugo avanzato si conserva in frigorifero per un paio di giorni oppure si può congelare.",
            "Gli allenamenti si svolgono tre volte alla settimana nella palestra della scuola media.",
            "Tutte le informazioni sono disponibili sul sito del comune e presso l'ufficio turistico.",
            "La passeggiata attraversa boschi di castagni e piccoli borghi di pietra.",
        ],
    },
    "pt": {
        "towns": ["Ouro Preto", "Paraty", "Tiradentes", "Olinda", "Penedo", "Petrópolis", "Pirenópolis", "Lençóis", "Diamantina", "Cunha"],
        "titles": [
            "A feira de sábado volta à praça central",
            "Como fazer um bolo de laranja fofinho",
            "Uma semana a pé pelos caminhos da serra",
            "A biblioteca municipal reabre depois das obras",
            "Dicas para começar uma horta em casa",
            "Festa do bairro enche as ruas de música",
            "Três trilhas fáceis para fazer em família",
            "O clube de futebol comemora cinquenta anos",
            "Como economizar energia em casa sem complicação",
            "Um fim de semana no Rio com as crianças",
            "Nova ciclovia liga o centro ao rio",
            "Receitas de inverno com feijão e legumes",
        ],
        "sentences": [
            "A feira de sábado em {town} reúne todas as semanas dezenas de produtores da região.",
            "As frutas e os legumes são colhidos na véspera e vendidos a preços muito justos.",
            "Para o bolo ficar fofinho, é importante bater bem os ovos com o açúcar.",
            "Depois de assado, o bolo deve esfriar completamente antes de ser desenformado.",
            "Saímos bem cedo de manhã, quando as ruas ainda estavam tranquilas.",
            "A trilha acompanha o rio durante vários quilômetros antes de subir até o povoado.",
            "A biblioteca ganhou uma sala para as crianças, novos computadores e um horário mais longo.",
            "Segundo a prefeitura de {town}, as obras devem terminar antes do fim do verão.",
            "Na primavera é possível semear rabanetes, cenouras e ervilhas diretamente na terra.",
            "Os tomates precisam de muito sol, mas também de rega regular.",
            "O clube tem hoje mais de trezentos sócios, muitos deles crianças e jovens.",
            "Durante a festa, as ruas do bairro se enchem de música, barracas de comida e atividades para as crianças.",
            "É bom levar água, chapéu e calçados confortáveis para caminhar.",
            "Desligar os aparelhos da tomada pode fazer uma boa diferença na conta de luz do mês.",
            "Dormimos numa pequena pousada familiar, onde fomos recebidos com muito carinho.",
            "Do alto do mirante se vê a cidade inteira, principalmente ao entardecer.",
            "Os moradores se reuniram na terça à noite para discutir o novo plano de trânsito.",
            "Os voluntários da associação preparam todas as quintas cestas básicas para as famílias que precisam.",
            "O feijão deve ficar de molho durante a noite para cozinhar mais depressa.",
            "O museu oferece visitas guiadas gratuitas no primeiro domingo de cada mês.",
            "Os comerciantes esperam que a nova ciclovia traga mais clientes para o centro.",
            "O time juvenil venceu o campeonato regional depois de uma final muito disputada.",
            "As crianças adoraram o passeio de barco e os peixes coloridos do aquário.",
            "Vale a pena reservar com antecedência, porque as vagas são limitadas.",
            "A compostagem aproveita os restos da cozinha e melhora a terra da horta.",
            "À noite jantamos num restaurante simples perto da praça, cheio de famílias do bairro.",
            "Os ingressos para os shows já estão à venda no centro de informações turísticas de {town}.",
            "A nova linha de ônibus vai ligar os bairros mais afastados ao hospital.",
            "A previsão do tempo indica um fim de semana ensolarado e com temperaturas agradáveis.",
            "A sopa de legumes pode ser congelada em porções pequenas e dura várias semanas.",
            "Todas as informações estão disponíveis no site da prefeitura.",
            "O bonde antigo continua sendo a forma mais charmosa de subir as ladeiras da cidade.",
        ],
    },
    "nl": {
        "towns": ["Zutphen", "Deventer", "Harderwijk", "Hoorn", "Gouda", "Kampen", "Zierikzee", "Doesburg", "Enkhuizen", "Elburg"],
        "titles": [
            "De zaterdagmarkt verhuist naar het plein",
            "Zo maak je de lekkerste appeltaart",
            "Een week fietsen langs de Vecht",
            "Bibliotheek weer open na verbouwing",
            "Tips voor een moestuin op het balkon",
            "Buurtfeest trekt honderden bezoekers",
            "Drie korte wandelingen door de duinen",
            "Voetbalclub viert honderdjarig bestaan",
            "Energie besparen in huis zonder veel moeite",
            "Een weekend Utrecht met kinderen",
            "Nieuwe busverbinding voor de dorpen",
            "Soep van de week: erwtensoep zoals vroeger",
        ],
        "sentences": [
            "De zaterdagmarkt in {town} trekt elke week honderden bezoekers uit de hele regio.",
            "Boeren uit de omgeving verkopen er groente, fruit, kaas en vers brood.",
            "Voor het deeg heb je bloem, boter, suiker, een ei en een snufje zout nodig.",
            "Laat de taart goed afkoelen voordat je hem aansnijdt, anders valt hij uit elkaar.",
            "We vertrokken vroeg in de ochtend, toen de straten nog stil en leeg waren.",
            "Het fietspad loopt bijna de hele tijd langs het water en is goed geschikt voor gezinnen.",
            "Na de verbouwing heeft de bibliotheek lichtere ruimtes, meer computers en een eigen hoek voor kinderen.",
            "Volgens de gemeente {town} moeten de werkzaamheden voor het einde van de zomer klaar zijn.",
            "In het voorjaar kun je radijs, wortels en doperwten direct in de grond zaaien.",
            "Tomaten hebben veel zon en warmte nodig, maar ook regelmatig water.",
            "De club telt inmiddels meer dan vierhonderd leden, onder wie veel kinderen en jongeren.",
            "Ondanks het wisselvallige weer kwamen er honderden mensen naar het buurtfeest.",
            "Op het podium speelden de hele middag bandjes uit de buurt.",
            "Wie energie wil besparen, kan de verwarming het beste eerst een graadje lager zetten.",
            "Apparaten op stand-by gebruiken vaak meer stroom dan je zou denken.",
            "De nieuwe bus rijdt doordeweeks elk half uur en in het weekend elk uur.",
            "Veel oudere bewoners van de dorpen hebben lang op een betere verbinding gewacht.",
            "Onderweg sliepen we in een klein hotel dat wordt gerund door een heel vriendelijk gezin.",
            "Neem stevige schoenen, een regenjas en genoeg water mee als je gaat wandelen.",
            "Vanaf de hoogste duintop heb je bij helder weer een prachtig uitzicht over de zee.",
            "Erwtensoep is pas echt goed als de lepel er rechtop in blijft staan.",
            "De kinderen vonden vooral de haven en de grote schepen geweldig.",
            "Het museum biedt elke eerste zondag van de maand gratis rondleidingen aan.",
            "Bewoners konden hun vragen dinsdagavond rechtstreeks aan de wethouder stellen.",
            "Vrijwilligers hebben dit najaar meer dan vijftig jonge bomen langs het pad geplant.",
            "Compost is een goede manier om keukenafval nuttig te gebruiken en de grond te verbeteren.",
            "Kaartjes zijn vanaf nu verkrijgbaar bij het gemeentehuis van {town} en online.",
            "Na de wedstrijd bleven beide teams nog lang gezellig nazitten in de kantine.",
            "Het weerbericht voorspelt een zonnig weekend met aangename temperaturen.",
            "Sommige winkels in het centrum hebben hun openingstijden aangepast aan de nieuwe marktdag.",
            "De soep kun je goed invriezen en hij smaakt de volgende dag vaak nog lekkerder.",
            "Meer informatie staat op de website van de gemeente.",
        ],
    },
    "ru": {
        "towns": ["Суздаль", "Тверь", "Кострома", "Вологда", "Псков", "Торжок", "Углич", "Коломна", "Муром", "Тихвин"],
        "titles": [
            "Субботняя ярмарка возвращается на центральную площадь",
            "Как испечь тонкие блины: простой рецепт",
            "Неделя на велосипеде вдоль Волги",
            "Городская библиотека открылась после ремонта",
            "Советы для начинающих огородников",
            "День города: музыка, ярмарка и концерт на набережной",
            "Три лёгких маршрута для прогулок всей семьёй",
            "Футбольный клуб отметил пятидесятилетие",
            "Как сэкономить на отоплении без лишних затрат",
            "Выходные в Казани с детьми",
            "Новый автобусный маршрут свяжет сёла с районным центром",
            "Осенние рецепты с тыквой и яблоками",
        ],
        "sentences": [
            "Субботняя ярмарка в городе {town} каждую неделю собирает сотни покупателей со всей округи.",
            "Местные фермеры продают овощи, фрукты, мёд и свежий хлеб по вполне разумным ценам.",
            "Для блинов понадобятся мука, молоко, яйца, немного сахара и щепотка соли.",
            "Тесто должно постоять около получаса, чтобы блины получились тонкими и мягкими.",
            "Мы выехали рано утром, когда улицы были ещё тихими и пустыми.",
            "Велосипедная дорожка идёт вдоль реки почти на всём протяжении и подходит даже для семей с детьми.",
            "После ремонта в библиотеке появились светлые читальные залы, новые компьютеры и детский уголок.",
            "По словам главы администрации, работы планируется завершить до конца лета.",
            "Весной редис, морковь и горох можно сеять прямо в открытый грунт.",
            "Помидоры любят солнце и тепло, но им также нужен регулярный полив.",
            "Сейчас в клубе занимаются более трёхсот человек, среди них много детей и подростков.",
            "Несмотря на переменчивую погоду, на праздник пришли несколько тысяч жителей.",
            "На главной сцене весь вечер выступали местные музыкальные коллективы.",
            "Чтобы сэкономить на отоплении, стоит прежде всего утеплить окна и двери.",
            "Приборы в режиме ожидания потребляют больше электроэнергии, чем кажется.",
            "Новый автобус будет ходить по будням каждые полчаса, а по выходным раз в час.",
            "Пожилые жители сёл давно ждали удобного сообщения с районным центром.",
            "По дороге мы ночевали в небольшой гостинице, которую держит очень гостеприимная семья.",
            "На прогулку лучше взять удобную обувь, дождевик и достаточно воды.",
            "С высокого берега открывается прекрасный вид на реку и старый город.",
            "Тыкву можно запечь в духовке с яблоками, мёдом и корицей.",
            "Детям больше всего понравились набережная и речной вокзал.",
            "В первое воскресенье каждого месяца музей проводит бесплатные экскурсии.",
            "Во вторник вечером жители смогли задать свои вопросы главе района напрямую.",
            "Осенью волонтёры посадили вдоль аллеи более пятидесяти молодых деревьев.",
            "Компост помогает с пользой перерабатывать кухонные отходы и улучшает почву.",
            "Билеты на концерты уже продаются в кассе дома культуры.",
            "После матча обе команды вместе пили чай в здании клуба.",
            "Синоптики обещают солнечные выходные и комфортную температуру.",
            "Некоторые магазины в центре изменили часы работы в связи с новым расписанием ярмарки.",
            "Суп хорошо хранится в холодильнике, а на следующий день становится даже вкуснее.",
            "Подробная информация размещена на сайте администрации города {town}.",
        ],
    },
    "ja": {
        "towns": ["松本", "高山", "倉敷", "尾道", "萩", "弘前", "彦根", "大洲", "竹原", "中津川"],
        "titles": [
            "土曜朝市が駅前広場に戻ってきました",
            "ふわふわパンケーキの簡単レシピ",
            "京都の小さな路地をのんびり歩く旅",
            "市立図書館が改装を終えて再開",
            "ベランダで始める家庭菜園のコツ",
            "夏祭りに多くの家族連れが訪れました",
            "初心者におすすめのハイキングコース三選",
            "地元のサッカークラブが創立五十周年",
            "冬の電気代を無理なく節約する方法",
            "子ども連れで楽しむ金沢の週末",
            "新しいバス路線で山間の集落と町がつながる",
            "秋の味覚、かぼちゃとさつまいものおかず",
        ],
        "sentences": [
            "{town}の土曜朝市には、毎週近くの農家から新鮮な野菜や果物が集まります。",
            "朝早く行くと、採れたてのトマトやきゅうりを手頃な値段で買うことができます。",
            "パンケーキをふわふわに焼くには、卵白をしっかり泡立てることが大切です。",
            "弱火でじっくり焼くと、表面がきれいな焼き色になり、中までふんわり仕上がります。",
            "私たちは朝早く出発し、まだ人の少ない静かな通りを歩きました。",
            "川沿いの遊歩道は平らで歩きやすく、小さな子どもがいる家族にもおすすめです。",
            "改装後の図書館には明るい閲覧室と子ども向けのコーナーが新しく作られました。",
            "市によると、工事は夏の終わりまでに完了する予定だということです。",
            "春になったら、ラディッシュやにんじん、えんどう豆を直接畑にまくことができます。",
            "トマトは日当たりを好みますが、水やりも毎日欠かさず行う必要があります。",
            "クラブには現在三百人以上の会員がいて、その多くが小学生や中学生です。",
            "天気が心配されましたが、祭りには数千人の人々が訪れ、夜遅くまでにぎわいました。",
            "ステージでは地元の太鼓グループや合唱団が次々と演奏を披露しました。",
            "暖房の設定温度を一度下げるだけでも、毎月の電気代はかなり変わります。",
            "使っていない家電のコンセントを抜くことも、節約の第一歩です。",
            "新しいバスは平日は三十分ごと、週末は一時間ごとに運行されます。",
            "山間の集落に住むお年寄りたちは、便利な交通手段をずっと待ち望んでいました。",
            "旅の途中では、家族で営む小さな旅館に泊まり、心のこもった料理をいただきました。",
            "ハイキングには歩きやすい靴と雨具、そして十分な水を持って行きましょう。",
            "頂上からは、晴れた日には遠くの海まで見渡すことができます。",
            "かぼちゃは電子レンジで少し加熱しておくと、切りやすくなります。",
            "子どもたちは港に停まっている大きな船を見て、とても喜んでいました。",
            "博物館では毎月第一日曜日に無料のガイドツアーが行われています。",
            "火曜日の夜に開かれた説明会では、住民から多くの質問が出されました。",
            "秋にはボランティアの人たちが、遊歩道沿いに五十本以上の若い木を植えました。",
            "生ごみを堆肥にすれば、ごみを減らしながら畑の土を豊かにすることができます。",
            "コンサートのチケットは、市民会館の窓口とインターネットで販売中です。",
            "試合の後、両チームの選手たちはクラブハウスで一緒にお茶を飲みました。",
            "天気予報によると、{town}の週末は晴れて過ごしやすい気温になるそうです。",
            "商店街のいくつかの店は、朝市に合わせて営業時間を変更しました。",
            "残ったスープは冷凍しておけば、忙しい日の夕食に便利です。",
            "詳しい情報は市のホームページで確認することができます。",
        ],
    },
    "zh": {
        "towns": ["绍兴", "桂林", "丽江", "婺源", "扬州", "泉州", "大理", "平遥", "凤凰", "黄山"],
        "titles": [
            "周六早市重新回到中心广场",
            "在家做松软蛋糕的小窍门",
            "沿着江边骑行的一周旅行",
            "市图书馆装修后重新开放",
            "阳台种菜的几个实用建议",
            "社区夏日文化节吸引众多居民",
            "适合全家出游的三条徒步路线",
            "本地足球俱乐部迎来建队五十周年",
            "冬季在家节约用电的简单方法",
            "带孩子在杭州度过一个周末",
            "新开通的公交线路连接山区村庄",
            "秋天的家常菜：南瓜和红薯",
        ],
        "sentences": [
            "{town}的周六早市每周都会吸引附近村镇的许多农户前来摆摊。",
            "早上去的话，可以用实惠的价格买到刚摘下来的蔬菜和水果。",
            "想让蛋糕松软，关键是要把蛋白充分打发。",
            "烤箱最好提前预热，烤好后要等蛋糕完全冷却再切开。",
            "我们一大早就出发了，那时街道上还很安静，行人也不多。",
            "江边的自行车道平坦宽敞，很适合带着孩子的家庭骑行。",
            "装修后的图书馆有了明亮的阅览室、新的电脑和专门的儿童阅读区。",
            "据市政府介绍，这项工程预计将在夏天结束前完工。",
            "春天可以直接在地里播种萝卜、胡萝卜和豌豆。",
            "西红柿喜欢阳光和温暖的环境，但也需要定期浇水。",
            "俱乐部目前有三百多名会员，其中很多是中小学生。",
            "尽管天气不太稳定，文化节当天还是来了好几千名居民。",
            "舞台上，本地的乐队和合唱团轮流演出，一直持续到晚上。",
            "把空调温度调低一度，每个月的电费就能节省不少。",
            "长时间不用的电器最好拔掉插头，这样也能省电。",
            "新的公交车工作日每半小时一班，周末每小时一班。",
            "住在山区的老人们一直盼望着能有更方便的交通。",
            "旅途中我们住在一家家庭经营的小旅馆，老板一家非常热情。",
            "去徒步的时候，记得穿舒适的鞋子，带上雨衣和足够的饮用水。",
            "天气晴朗的时候，从山顶可以一直望到远处的大海。",
            "南瓜可以先用微波炉稍微加热一下，这样切起来会容易很多。",
            "孩子们看到港口里停着的大船，都特别兴奋。",
            "博物馆每个月的第一个星期天都会提供免费的讲解服务。",
            "在星期二晚上的说明会上，居民们提出了很多问题。",
            "秋天，志愿者们在步道两旁种下了五十多棵小树。",
            "把厨余垃圾做成堆肥，既能减少垃圾，又能让菜地的土壤更肥沃。",
            "音乐会的门票已经在文化中心的售票处和网上开始销售。",
            "比赛结束后，两队的队员们一起在俱乐部里喝茶聊天。",
            "根据天气预报，{town}这个周末天气晴朗，气温也很舒适。",
            "商业街上的一些商店根据早市的时间调整了营业时间。",
            "剩下的汤可以放进冰箱冷冻，忙的时候拿出来加热就是一顿晚饭。",
            "更多详细信息可以在市政府的官方网站上查询。",
        ],
    },
}

# Interface strings of the page templates, per language.
UI = {
    "en": dict(nav=["Home", "News", "Features", "Opinion", "About us", "Contact"], latest="Latest", most_read="Most read",
               related="You may also like", search="Search", newsletter="Sign up to our weekly newsletter",
               rights="All rights reserved.", cookie="We use cookies to make this website work and to understand how it is used. You can change your settings at any time.",
               privacy="Privacy policy", terms="Terms of use", contact="Contact us", accept="Accept", by="By",
               posted_in="Posted in", tags="Tags", share="Share this article", reply="Leave a reply", comments="comments",
               archives="Archives", skip="Skip to content", menu="Menu", read_more="Read more", updated="Updated"),
    "fr": dict(nav=["Accueil", "Actualités", "Cuisine", "Sorties", "Qui sommes-nous", "Contact"], latest="À la une", most_read="Les plus lus",
               related="À lire aussi", search="Rechercher", newsletter="Inscrivez-vous à notre lettre d’information",
               rights="Tous droits réservés.", cookie="Nous utilisons des cookies pour améliorer votre expérience sur notre site. Vous pouvez modifier vos choix à tout moment.",
               privacy="Politique de confidentialité", terms="Mentions légales", contact="Nous contacter", accept="Accepter", by="Par",
               posted_in="Publié dans", tags="Mots-clés", share="Partager cet article", reply="Laisser un commentaire", comments="commentaires",
               archives="Archives", skip="Aller au contenu", menu="Menu", read_more="Lire la suite", updated="Mis à jour"),
    "de": dict(nav=["Startseite", "Nachrichten", "Freizeit", "Rezepte", "Über uns", "Kontakt"], latest="Aktuell", most_read="Meistgelesen",
               related="Das könnte Sie auch interessieren", search="Suche", newsletter="Jetzt den Newsletter abonnieren",
               rights="Alle Rechte vorbehalten.", cookie="Wir verwenden Cookies, um unsere Webseite für Sie optimal zu gestalten. Sie können Ihre Einstellungen jederzeit ändern.",
               privacy="Datenschutz", terms="Impressum", contact="Kontakt", accept="Akzeptieren", by="Von",
               posted_in="Veröffentlicht in", tags="Schlagwörter", share="Artikel teilen", reply="Kommentar schreiben", comments="Kommentare",
               archives="Archiv", skip="Zum Inhalt springen", menu="Menü", read_more="Weiterlesen", updated="Aktualisiert"),
    "es": dict(nav=["Inicio", "Noticias", "Cocina", "Viajes", "Quiénes somos", "Contacto"], latest="Lo último", most_read="Lo más leído",
               related="También te puede interesar", search="Buscar", newsletter="Suscríbete a nuestro boletín semanal",
               rights="Todos los derechos reservados.", cookie="Utilizamos cookies para mejorar tu experiencia en nuestra web. Puedes cambiar la configuración en cualquier momento.",
               privacy="Política de privacidad", terms="Aviso legal", contact="Contacto", accept="Aceptar", by="Por",
               posted_in="Publicado en", tags="Etiquetas", share="Compartir artículo", reply="Deja un comentario", comments="comentarios",
               archives="Archivo", skip="Ir al contenido", menu="Menú", read_more="Leer más", updated="Actualizado"),
    "it": dict(nav=["Home", "Notizie", "Cucina", "Viaggi", "Chi siamo", "Contatti"], latest="In evidenza", most_read="I più letti",
               related="Potrebbe interessarti anche", search="Cerca", newsletter="Iscriviti alla nostra newsletter",
               rights="Tutti i diritti riservati.", cookie="Questo sito utilizza i cookie per migliorare la tua esperienza di navigazione. Puoi modificare le tue scelte in qualsiasi momento.",
               privacy="Informativa sulla privacy", terms="Note legali", contact="Contatti", accept="Accetta", by="Di",
               posted_in="Pubblicato in", tags="Tag", share="Condividi l'articolo", reply="Lascia un commento", comments="commenti",
               archives="Archivio", skip="Vai al contenuto", menu="Menu", read_more="Continua a leggere", updated="Aggiornato"),
    "pt": dict(nav=["Início", "Notícias", "Receitas", "Passeios", "Quem somos", "Contato"], latest="Destaques", most_read="Mais lidas",
               related="Veja também", search="Buscar", newsletter="Assine a nossa newsletter semanal",
               rights="Todos os direitos reservados.", cookie="Usamos cookies para melhorar a sua experiência no nosso site. Você pode alterar as suas preferências a qualquer momento.",
               privacy="Política de privacidade", terms="Termos de uso", contact="Fale conosco", accept="Aceitar", by="Por",
               posted_in="Publicado em", tags="Tags", share="Compartilhe este artigo", reply="Deixe um comentário", comments="comentários",
               archives="Arquivo", skip="Ir para o conteúdo", menu="Menu", read_more="Leia mais", updated="Atualizado"),
    "nl": dict(nav=["Home", "Nieuws", "Uitgaan", "Recepten", "Over ons", "Contact"], latest="Laatste nieuws", most_read="Meest gelezen",
               related="Lees ook", search="Zoeken", newsletter="Meld je aan voor onze nieuwsbrief",
               rights="Alle rechten voorbehouden.", cookie="Wij gebruiken cookies om onze website goed te laten werken en om het gebruik te analyseren. Je kunt je keuze altijd aanpassen.",
               privacy="Privacyverklaring", terms="Gebruiksvoorwaarden", contact="Contact", accept="Accepteren", by="Door",
               posted_in="Geplaatst in", tags="Tags", share="Deel dit artikel", reply="Laat een reactie achter", comments="reacties",
               archives="Archief", skip="Naar de inhoud", menu="Menu", read_more="Lees verder", updated="Bijgewerkt"),
    "ru": dict(nav=["Главная", "Новости", "Общество", "Рецепты", "О нас", "Контакты"], latest="Главное", most_read="Самое читаемое",
               related="Читайте также", search="Поиск", newsletter="Подпишитесь на нашу рассылку",
               rights="Все права защищены.", cookie="Мы используем файлы cookie, чтобы сайт работал удобнее для вас. Вы можете изменить настройки в любое время.",
               privacy="Политика конфиденциальности", terms="Правила использования", contact="Связаться с нами", accept="Принять", by="Автор:",
               posted_in="Рубрика", tags="Теги", share="Поделиться", reply="Оставить комментарий", comments="комментариев",
               archives="Архив", skip="Перейти к содержанию", menu="Меню", read_more="Читать далее", updated="Обновлено"),
    "ja": dict(nav=["ホーム", "ニュース", "暮らし", "レシピ", "会社概要", "お問い合わせ"], latest="新着記事", most_read="人気の記事",
               related="関連記事", search="検索", newsletter="メールマガジンに登録する",
               rights="All rights reserved.", cookie="当サイトでは、より良いサービスを提供するためにクッキーを使用しています。設定はいつでも変更できます。",
               privacy="プライバシーポリシー", terms="利用規約", contact="お問い合わせ", accept="同意する", by="文：",
               posted_in="カテゴリー", tags="タグ", share="この記事をシェアする", reply="コメントを書く", comments="件のコメント",
               archives="アーカイブ", skip="本文へ移動", menu="メニュー", read_more="続きを読む", updated="更新"),
    "zh": dict(nav=["首页", "新闻", "生活", "美食", "关于我们", "联系我们"], latest="最新文章", most_read="热门文章",
               related="相关阅读", search="搜索", newsletter="订阅我们的电子周报",
               rights="版权所有。", cookie="本网站使用Cookie来改善您的浏览体验。您可以随时更改设置。",
               privacy="隐私政策", terms="使用条款", contact="联系我们", accept="同意", by="作者：",
               posted_in="栏目", tags="标签", share="分享本文", reply="发表评论", comments="条评论",
               archives="归档", skip="跳到正文", menu="菜单", read_more="阅读全文", updated="更新于"),
}

MONTH_NAMES = {
    "en": MONTHS,
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"],
    "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"],
    "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"],
    "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"],
    "ru": ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"],
}


def format_date(d: date, lang: str) -> str:
    if lang in ("ja", "zh"):
        return f"{d.year}年{d.month}月{d.day}日"
    m = MONTH_NAMES[lang][d.month - 1]
    if lang == "de":
        return f"{d.day}. {m} {d.year}"
    if lang in ("es", "pt"):
        return f"{d.day} de {m} de {d.year}"
    if lang == "ru":
        return f"{d.day} {m} {d.year} г."
    return f"{d.day} {m} {d.year}"

AUTHORS = {
    "fr": ["Claire Moreau", "Julien Lefèvre", "Sophie Garnier", "Antoine Roux"],
    "de": ["Anna Becker", "Markus Hoffmann", "Julia Schäfer", "Thomas Krüger"],
    "es": ["Lucía Martín", "Javier Romero", "Carmen Ortega", "Pablo Navarro"],
    "it": ["Giulia Ferri", "Marco Bianchi", "Chiara Conti", "Luca Moretti"],
    "pt": ["Ana Souza", "Pedro Almeida", "Mariana Costa", "Rafael Lima"],
    "nl": ["Sanne de Vries", "Joris Bakker", "Lotte Visser", "Daan Smit"],
    "ru": ["Анна Смирнова", "Дмитрий Волков", "Елена Кузнецова", "Игорь Соколов"],
    "ja": ["山田 花子", "佐藤 健", "鈴木 美咲", "高橋 誠"],
    "zh": ["李晓明", "王芳", "张伟", "陈静"],
}

# CLD2's names, as Common Crawl's metadata records carry them.
CLD2 = {
    "en": ("eng", "ENGLISH"), "fr": ("fra", "FRENCH"), "de": ("deu", "GERMAN"), "es": ("spa", "SPANISH"),
    "it": ("ita", "ITALIAN"), "pt": ("por", "PORTUGUESE"), "nl": ("nld", "DUTCH"), "ru": ("rus", "RUSSIAN"),
    "ja": ("jpn", "Japanese"), "zh": ("zho", "Chinese"),
}

# charset (as expected.json names it) -> (Python codec, label used in headers/meta, CC's charset-detected)
CHARSETS = {
    "utf-8": ("utf-8", "UTF-8", "UTF-8"),
    "windows-1252": ("cp1252", "windows-1252", "windows-1252"),
    "iso-8859-1": ("latin-1", "ISO-8859-1", "ISO-8859-1"),
    "shift_jis": ("shift_jis", "Shift_JIS", "Shift_JIS"),
    "euc-jp": ("euc_jp", "EUC-JP", "EUC-JP"),
    "windows-1251": ("cp1251", "windows-1251", "windows-1251"),
    "koi8-r": ("koi8_r", "KOI8-R", "KOI8-R"),
    "gbk": ("gbk", "GBK", "GBK"),
}

# ---------------------------------------------------------------------------------------------
# Sites: host, name, language, topic (English only), template, server profile, tagline.
# ---------------------------------------------------------------------------------------------
def _site(host, name, lang, topic, template, server, tagline, scheme="https"):
    return dict(host=host, name=name, lang=lang, topic=topic, template=template, server=server,
                tagline=tagline, scheme=scheme)


EN_SITES = [
    _site("www.thekitchennotebook.com", "The Kitchen Notebook", "en", "cooking", "blog", "wordpress", "Home cooking, written down"),
    _site("oldmillbakes.blogspot.com", "Old Mill Bakes", "en", "cooking", "blog", "gws", "Baking from a small kitchen in the Dales"),
    _site("www.kiwikitchen.co.nz", "Kiwi Kitchen", "en", "cooking", "magazine", "nginx", "Everyday food, made at home"),
    _site("wanderingboots.net", "Wandering Boots", "en", "travel", "blog", "wordpress", "Slow travel on a small budget"),
    _site("www.backroadsofireland.ie", "Backroads of Ireland", "en", "travel", "magazine", "cloudflare", "Quiet roads and long walks"),
    _site("www.slowtrainjournal.com", "The Slow Train Journal", "en", "travel", "news", "nginx", "Travel stories without the rush"),
    _site("www.greenfingersweekly.co.uk", "Green Fingers Weekly", "en", "gardening", "magazine", "cloudflare", "Practical gardening advice every week"),
    _site("www.plotandpotting.org.uk", "Plot and Potting", "en", "gardening", "classic", "apache", "Notes from an allotment society"),
    _site("www.riverside-gazette.co.uk", "The Riverside Gazette", "en", "local_news", "news", "nginx", "News from the towns along the river"),
    _site("www.harbourtownherald.com", "Harbour Town Herald", "en", "local_news", "news", "cloudflare", "Your local paper since 1894"),
    _site("www.valleyvoice.org", "The Valley Voice", "en", "local_news", "blog", "wordpress", "A community newsletter"),
    _site("www.labnotes-science.org", "Lab Notes", "en", "science", "magazine", "nginx", "Science for the curious"),
    _site("astro.hillcrest.edu", "Hillcrest Astronomy Group", "en", "science", "classic", "apache", "Public observing nights and notes"),
    _site("www.curiousplanet.info", "Curious Planet", "en", "science", "news", "cloudflare", "The natural world, explained"),
    _site("www.bytesandbuilds.dev", "Bytes and Builds", "en", "software", "corporate", "netlify", "Notes on building software"),
    _site("www.pixelfoundry.co", "Pixel Foundry", "en", "software", "corporate", "nginx", "A small software studio"),
    _site("engineering.tidewaterlabs.io", "Tidewater Labs Engineering", "en", "software", "blog", "nginx", "How we build and run our services"),
    _site("www.historyhollow.org", "History Hollow", "en", "history", "classic", "apache", "Local history, one street at a time"),
    _site("www.maplecountyrecords.ca", "Maple County Records", "en", "history", "classic", "iis", "County archives and family history"),
    _site("www.oldroadsociety.org.uk", "The Old Road Society", "en", "history", "magazine", "apache", "Roads, canals and the people who built them"),
    _site("www.matchdaymargins.com", "Matchday Margins", "en", "sport", "news", "cloudflare", "Grassroots sport, reported properly"),
    _site("www.fairwaytales.com", "Fairway Tales", "en", "sport", "blog", "wordpress", "Club sport and weekend athletes"),
    _site("www.aussiebushrunners.com.au", "Bush Runners", "en", "sport", "magazine", "nginx", "Trail running and club news"),
    _site("www.wellnessfieldguide.com", "The Wellness Field Guide", "en", "health", "magazine", "cloudflare", "Everyday health, sensibly"),
    _site("www.northfieldhealthcentre.org.uk", "Northfield Health Centre", "en", "health", "corporate", "iis", "Patient information and news"),
    _site("www.pennywisehousehold.com", "Pennywise Household", "en", "finance", "blog", "wordpress", "Money matters for ordinary families"),
    _site("www.moneysense-basics.com", "Money Sense Basics", "en", "finance", "news", "nginx", "Plain answers to money questions"),
    _site("www.thriftyfamilyfinances.us", "Thrifty Family Finances", "en", "finance", "corporate", "litespeed", "Budgeting without the guilt"),
]

LANG_SITES = {
    "fr": [_site("www.journal-du-vercors.fr", "Le Journal du Vercors", "fr", None, "news", "nginx", "L’actualité du plateau et des vallées"),
           _site("www.carnets-de-saison.fr", "Carnets de saison", "fr", None, "blog", "wordpress", "Cuisine, jardin et balades")],
    "de": [_site("www.gartenfreunde-heute.de", "Gartenfreunde heute", "de", None, "magazine", "apache", "Garten, Küche und Freizeit"),
           _site("www.stadtbote-lindental.de", "Stadtbote Lindental", "de", None, "news", "nginx", "Nachrichten aus der Region")],
    "es": [_site("www.diariodelavega.es", "Diario de la Vega", "es", None, "news", "nginx", "Noticias de la comarca"),
           _site("www.cocinaymercado.com", "Cocina y Mercado", "es", None, "blog", "wordpress", "Recetas de temporada")],
    "it": [_site("www.gazzettadelborgo.it", "La Gazzetta del Borgo", "it", None, "news", "apache", "Notizie dal territorio"),
           _site("www.sapori-di-casa.it", "Sapori di casa", "it", None, "blog", "wordpress", "Cucina di tutti i giorni")],
    "pt": [_site("www.jornaldaserra.com.br", "Jornal da Serra", "pt", None, "news", "nginx", "Notícias da região serrana"),
           _site("www.cantinhodahorta.com.br", "Cantinho da Horta", "pt", None, "blog", "wordpress", "Horta, cozinha e passeios")],
    "nl": [_site("www.streekbladdeweide.nl", "Streekblad De Weide", "nl", None, "news", "nginx", "Nieuws uit de streek"),
           _site("www.fietsenkeuken.nl", "Fiets & Keuken", "nl", None, "blog", "wordpress", "Fietsen, koken en de tuin")],
    "ru": [_site("www.gorodskie-vesti.ru", "Городские вести", "ru", None, "news", "nginx", "Новости нашего города"),
           _site("sad-i-kuhnya.ru", "Сад и кухня", "ru", None, "classic", "apache", "Советы для дома и дачи")],
    "ja": [_site("www.machi-dayori.jp", "まちだより", "ja", None, "news", "apache", "地域の話題をお届けします"),
           _site("kurashi-note.jp", "くらしのノート", "ja", None, "blog", "nginx", "毎日のくらしの記録")],
    "zh": [_site("www.chengshi-shenghuo.cn", "城市生活网", "zh", None, "news", "nginx", "本地生活资讯"),
           _site("www.jiachang-riji.com.cn", "家常日记", "zh", None, "classic", "apache", "记录生活的点点滴滴")],
}

# Hosts on datatrove's shipped URL block list (url_filterblacklistsv0_3_0.tar.gz, "domains"),
# with bland content; and URLs holding a word from its banned_words.txt.
BLOCKLISTED = [
    dict(host="www.bakeryequipmentstore.com", path="/guides/choosing-a-stand-mixer-for-a-small-bakery", topic="cooking",
         subject="sourdough bread", title="Choosing a stand mixer for a small bakery", reason="domain"),
    dict(host="candlesgarden.com", path="/blog/planting-a-scented-border", topic="gardening",
         subject="climbing roses", title="Planting a scented border by the patio", reason="domain"),
    dict(host="www.adventuretravelfair.com", path="/visitors/what-to-expect", topic="travel",
         subject="the Scottish Highlands", title="What to expect at this year's travel fair", reason="domain"),
    dict(host="www.coldweatherenergyfund.com", path="/help/keeping-bills-down-in-winter", topic="finance",
         subject="household energy bills", title="Keeping energy bills down in winter", reason="domain"),
    dict(host="www.equestrianweekly.net", path="/training/bareback-riding-basics-for-beginners", topic="sport",
         subject="the riding club", title="Bareback riding basics for beginners", reason="banned word"),
    dict(host="www.pharmacy-price-checker.com", path="/compare/generic-cialis-prices", topic="health",
         subject="health check-ups", title="Comparing prescription prices: a short guide", reason="banned word"),
]

# Harmless hosts whose names contain a banned substring: a naive substring filter drops them,
# datatrove's URLFilter (word and domain based) keeps them.
LOOKALIKES = [
    dict(host="www.essexwalks.org.uk", path="/routes/saffron-walden-circular", topic="travel",
         subject="the Essex countryside", title="A circular walk from Saffron Walden"),
    dict(host="www.sussexcottagegardens.co.uk", path="/journal/sweet-peas-in-a-cottage-border", topic="gardening",
         subject="sweet peas", title="Sweet peas in a cottage border"),
    dict(host="www.middlesexparishrecords.org.uk", path="/articles/the-old-grammar-school", topic="history",
         subject="the old grammar school", title="The old grammar school and its pupils"),
    dict(host="www.scunthorpehistory.org.uk", path="/steelworks/the-local-brickworks", topic="history",
         subject="the local brickworks", title="The story of the local brickworks"),
]


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def esc(s: str) -> str:
    return html.escape(s, quote=False)


def attr(s: str) -> str:
    return html.escape(s, quote=True)


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def slugify(text: str) -> str:
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    t = re.sub(r"[^A-Za-z0-9]+", "-", t).strip("-").lower()
    return t[:72].rstrip("-")


_FORMATTER = string.Formatter()


def fill(rng: random.Random, template: str, ctx: dict, slots: dict | None = None) -> str:
    """Fill {slot}s: page-level values from ctx, the rest drawn from the (language's) slot lists."""
    slots = slots or SLOT_VALUES
    names = sorted({f for _, f, _, _ in _FORMATTER.parse(template) if f})
    values = {}
    for name in names:
        if name in ctx:
            values[name] = ctx[name]
        else:
            values[name] = rng.choice(slots[name])
    return template.format(**values)


def group_sentences(rng: random.Random, sentences: list[str], lo: int, hi: int, sep: str = " ") -> list[str]:
    paragraphs, i = [], 0
    while i < len(sentences):
        k = rng.randint(lo, hi)
        if len(sentences) - (i + k) == 1:  # never leave a one-sentence tail
            k += 1
        paragraphs.append(sep.join(sentences[i:i + k]))
        i += k
    return paragraphs


def smart_quotes(s: str) -> str:
    return s.replace("'", "\u2019")


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def http_date(dt: datetime) -> str:
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")


def warc_date(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# HTML templates.  A page is a dict (see make_page); each template renders the same fields in a
# different, realistic layout: nav, header, the article (h1 + <p>s), a sidebar, a footer with
# copyright and cookie text, inline <style> and <script>.
# ---------------------------------------------------------------------------------------------
def render_paragraph(p) -> str:
    if isinstance(p, tuple) and p[0] == "links":
        return "<p>" + " | ".join(f'<a href="/{slugify(x) or "page"}/">{esc(x)}</a>' for x in p[1]) + "</p>"
    return f"<p>{esc(p)}</p>"


def visible(p) -> str:
    if isinstance(p, tuple) and p[0] == "links":
        return " | ".join(p[1])
    return p


def body_html(page: dict, indent: str = "") -> str:
    out = []
    for i, p in enumerate(page["paragraphs"]):
        if i in page.get("subheads", {}):
            out.append(f"{indent}<h2>{esc(page['subheads'][i])}</h2>")
        out.append(indent + render_paragraph(p))
    return "\n".join(out)


def charset_meta(page: dict, xhtml: bool = False) -> str:
    label, cs = page["label"], page["meta_charset_name"]
    end = " />" if xhtml else ">"
    if label in ("both", "meta") and not xhtml:
        return f'<meta charset="{cs}">\n'
    if label in ("both", "meta", "meta-http-equiv"):
        return f'<meta http-equiv="Content-Type" content="text/html; charset={cs}"{end}\n'
    return ""


def link_list(page: dict, titles: list[str], prefix: str) -> str:
    return "\n".join(f'<li><a href="{prefix}{slugify(t) or i}">{esc(t)}</a></li>' for i, t in enumerate(titles))


def nav_items(page: dict) -> str:
    items = page["ui"]["nav"]
    return "\n".join(f'<li class="menu-item"><a href="/{slugify(x) or "section-" + str(i)}/">{esc(x)}</a></li>' if i else
                     f'<li class="menu-item current"><a href="/">{esc(x)}</a></li>' for i, x in enumerate(items))


def jsonld(page: dict) -> str:
    data = {
        "@context": "https://schema.org", "@type": "Article", "headline": page["title"],
        "datePublished": page["date"].isoformat(), "inLanguage": page["lang"],
        "author": {"@type": "Person", "name": page["author"]},
        "publisher": {"@type": "Organization", "name": page["site"]["name"]},
        "mainEntityOfPage": page["canonical"],
    }
    return json.dumps(data, ensure_ascii=True)


def tpl_news(page: dict) -> str:
    ui, site, lang = page["ui"], page["site"], page["lang"]
    date_s = format_date(page["date"], lang)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
{charset_meta(page)}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(page['title'])} | {esc(site['name'])}</title>
<meta name="description" content="{attr(page['description'])}">
<meta property="og:type" content="article">
<meta property="og:title" content="{attr(page['title'])}">
<meta property="og:url" content="{attr(page['canonical'])}">
<meta property="og:site_name" content="{attr(site['name'])}">
<meta property="article:published_time" content="{page['date'].isoformat()}T07:30:00+00:00">
<link rel="canonical" href="{attr(page['canonical'])}">
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/static/css/site.min.css?v=3.2.{page['n'] % 7}">
<style>
body{{margin:0;font-family:Georgia,"Times New Roman",serif;color:#1d1d1d;background:#fff}}
.site-header{{background:#0b3d5c;color:#fff;padding:12px 20px}}
.site-header a{{color:#fff;text-decoration:none}}
.main-nav ul{{list-style:none;margin:0;padding:0;display:flex;gap:18px}}
.wrap{{max-width:1100px;margin:0 auto;display:grid;grid-template-columns:1fr 300px;gap:32px}}
.story-body p{{font-size:1.1rem;line-height:1.65}}
.cookie-banner{{position:fixed;bottom:0;left:0;right:0;background:#222;color:#eee;padding:10px}}
</style>
<script type="application/ld+json">{jsonld(page)}</script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-{page['track']}"></script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}gtag('js',new Date());gtag('config','G-{page['track']}');</script>
</head>
<body class="article-template section-{slugify(page['section']) or 'news'}">
<a class="skip-link" href="#main">{esc(ui['skip'])}</a>
<header class="site-header">
<div class="brand"><a class="logo" href="/">{esc(site['name'])}</a> <span class="tagline">{esc(site['tagline'])}</span></div>
<nav class="main-nav" aria-label="Main">
<ul>
{nav_items(page)}
</ul>
</nav>
</header>
<div class="breadcrumb"><a href="/">{esc(ui['nav'][0])}</a> &raquo; <a href="/{slugify(page['section']) or 'news'}/">{esc(page['section'])}</a></div>
<div class="wrap">
<main id="main">
<article class="story">
<h1 class="headline">{esc(page['title'])}</h1>
<div class="byline">{esc(ui['by'])} <a href="/author/{slugify(page['author']) or 'staff'}/" rel="author">{esc(page['author'])}</a> &middot; <time datetime="{page['date'].isoformat()}">{esc(date_s)}</time></div>
<div class="story-body">
{body_html(page)}
</div>
<div class="share">{esc(ui['share'])}: <a href="https://www.facebook.com/sharer/sharer.php?u={attr(page['canonical'])}">Facebook</a> <a href="https://twitter.com/intent/tweet?url={attr(page['canonical'])}">X</a> <a href="mailto:?subject={attr(page['title'])}">Email</a></div>
</article>
</main>
<aside class="sidebar">
<section class="widget most-read">
<h2>{esc(ui['most_read'])}</h2>
<ol>
{link_list(page, page['sidebar'], '/' + (slugify(page['section']) or 'news') + '/')}
</ol>
</section>
<section class="widget newsletter">
<h2>{esc(ui['newsletter'])}</h2>
<form action="/newsletter/subscribe" method="post"><input type="email" name="email" placeholder="name@example.com" required> <button type="submit">OK</button></form>
</section>
</aside>
</div>
<footer class="site-footer">
<nav class="footer-links"><a href="/privacy/">{esc(ui['privacy'])}</a> | <a href="/terms/">{esc(ui['terms'])}</a> | <a href="/contact/">{esc(ui['contact'])}</a></nav>
<p class="copyright">&copy; {page['date'].year} {esc(site['name'])}. {esc(ui['rights'])}</p>
</footer>
<div id="cookie-banner" class="cookie-banner" role="dialog" aria-live="polite"><p>{esc(ui['cookie'])}</p><button type="button" id="cookie-accept">{esc(ui['accept'])}</button></div>
<script src="/static/js/site.min.js?v=3.2.{page['n'] % 7}" defer></script>
<script>
document.getElementById('cookie-accept').addEventListener('click',function(){{document.getElementById('cookie-banner').style.display='none';document.cookie='consent=1;path=/;max-age=31536000';}});
</script>
</body>
</html>
"""


def tpl_blog(page: dict) -> str:
    ui, site, lang = page["ui"], page["site"], page["lang"]
    date_s = format_date(page["date"], lang)
    host = site["host"]
    pid = page["n"] * 37 + 1000
    comments = ""
    if page.get("comments"):
        items = []
        for j, (who, text) in enumerate(page["comments"]):
            cid = pid * 10 + j
            items.append(f"""<li id="comment-{cid}" class="comment {'even' if j % 2 == 0 else 'odd'} thread-{'even' if j % 2 == 0 else 'odd'} depth-1">
<article id="div-comment-{cid}" class="comment-body">
<footer class="comment-meta"><div class="comment-author vcard"><b class="fn">{esc(who)}</b> <span class="says">says:</span></div>
<div class="comment-metadata"><a href="#comment-{cid}"><time datetime="{page['date'].isoformat()}T20:{10 + j:02d}:00+00:00">{esc(date_s)} at 8:{10 + j:02d} pm</time></a></div></footer>
<div class="comment-content"><p>{esc(text)}</p></div>
<div class="reply"><a rel="nofollow" class="comment-reply-link" href="#comment-{cid}">Reply</a></div>
</article>
</li>""")
        comments = f"""<div id="comments" class="comments-area default-max-width show-avatars">
<h2 class="comments-title">{len(page['comments'])} {esc(ui['comments'])}</h2>
<ol class="comment-list">
{chr(10).join(items)}
</ol>
<div id="respond" class="comment-respond">
<h3 id="reply-title" class="comment-reply-title">{esc(ui['reply'])}</h3>
<form action="https://{host}/wp-comments-post.php" method="post" id="commentform" class="comment-form"><p class="comment-form-comment"><label for="comment">Comment</label> <textarea id="comment" name="comment" cols="45" rows="5" maxlength="65525" required></textarea></p><p class="form-submit"><input name="submit" type="submit" id="submit" class="submit" value="Post Comment"></p></form>
</div>
</div>"""
    archive_items = []
    y, m = page["date"].year, page["date"].month
    for _ in range(4):
        label = f"{MONTHS[m - 1]} {y}" if lang == "en" else f"{m:02d}/{y}"
        archive_items.append(f'<li><a href="https://{host}/{y}/{m:02d}/">{esc(label)}</a></li>')
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    archive = "\n".join(archive_items)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
{charset_meta(page)}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(page['title'])} &#8211; {esc(site['name'])}</title>
<meta name='robots' content='index, follow, max-image-preview:large' />
<link rel='dns-prefetch' href='//fonts.googleapis.com' />
<link rel="alternate" type="application/rss+xml" title="{attr(site['name'])} &raquo; Feed" href="https://{host}/feed/" />
<link rel='stylesheet' id='wp-block-library-css' href='https://{host}/wp-includes/css/dist/block-library/style.min.css?ver=6.4.3' media='all' />
<link rel='stylesheet' id='twenty-twenty-one-style-css' href='https://{host}/wp-content/themes/twentytwentyone/style.css?ver=2.1' media='all' />
<style id='global-styles-inline-css'>
body{{--wp--preset--color--black:#000000;--wp--preset--color--white:#ffffff;--wp--preset--font-size--small:13px}}
.entry-content p{{margin:0 0 1.2em;line-height:1.7}}
.widget-area ul{{list-style:none;padding-left:0}}
</style>
<link rel="https://api.w.org/" href="https://{host}/wp-json/" />
<meta name="generator" content="WordPress 6.4.3" />
<link rel="canonical" href="{attr(page['canonical'])}" />
<link rel='shortlink' href='https://{host}/?p={pid}' />
</head>
<body class="post-template-default single single-post postid-{pid} single-format-standard wp-embed-responsive">
<div id="page" class="site">
<a class="skip-link screen-reader-text" href="#content">{esc(ui['skip'])}</a>
<header id="masthead" class="site-header has-title-and-tagline" role="banner">
<div class="site-branding"><p class="site-title"><a href="https://{host}/" rel="home">{esc(site['name'])}</a></p><p class="site-description">{esc(site['tagline'])}</p></div>
<nav id="site-navigation" class="primary-navigation" aria-label="Primary menu">
<div class="menu-button-container"><button id="primary-mobile-menu" class="button" aria-controls="primary-menu-list" aria-expanded="false"><span class="dropdown-icon open">{esc(ui['menu'])}</span></button></div>
<div class="primary-menu-container"><ul id="primary-menu-list" class="menu-wrapper">
{nav_items(page)}
</ul></div>
</nav>
</header>
<div id="content" class="site-content">
<div id="primary" class="content-area">
<main id="main" class="site-main">
<article id="post-{pid}" class="post-{pid} post type-post status-publish format-standard hentry category-{slugify(page['section']) or 'general'} entry">
<header class="entry-header alignwide"><h1 class="entry-title">{esc(page['title'])}</h1></header>
<div class="entry-content">
{body_html(page)}
</div>
<footer class="entry-footer default-max-width">
<div class="posted-by"><span class="posted-on"><time class="entry-date published updated" datetime="{page['date'].isoformat()}T09:00:00+00:00">{esc(date_s)}</time></span> <span class="byline">{esc(ui['by'])} <a href="https://{host}/author/{slugify(page['author']) or 'admin'}/" rel="author">{esc(page['author'])}</a></span></div>
<div class="post-taxonomies"><span class="cat-links">{esc(ui['posted_in'])} <a href="https://{host}/category/{slugify(page['section']) or 'general'}/" rel="category tag">{esc(page['section'])}</a></span></div>
</footer>
</article>
{comments}
</main>
</div>
<aside id="secondary" class="widget-area" role="complementary">
<section id="search-2" class="widget widget_search"><form role="search" method="get" class="search-form" action="https://{host}/"><label for="search-form-1">{esc(ui['search'])}&hellip;</label><input type="search" id="search-form-1" class="search-field" value="" name="s" /><input type="submit" class="search-submit" value="{attr(ui['search'])}" /></form></section>
<section id="recent-posts-2" class="widget widget_recent_entries"><h2 class="widget-title">{esc(ui['latest'])}</h2>
<ul>
{link_list(page, page['sidebar'], 'https://' + host + '/')}
</ul>
</section>
<section id="archives-2" class="widget widget_archive"><h2 class="widget-title">{esc(ui['archives'])}</h2>
<ul>
{archive}
</ul>
</section>
</aside>
</div>
<footer id="colophon" class="site-footer" role="contentinfo">
<div class="site-info"><div class="site-name"><a href="https://{host}/">{esc(site['name'])}</a></div>
<div class="privacy-policy"><a class="privacy-policy-link" href="https://{host}/privacy-policy/">{esc(ui['privacy'])}</a></div>
<div class="powered-by">Proudly powered by <a href="https://wordpress.org/">WordPress</a>.</div></div>
</footer>
</div>
<script>
document.body.classList.remove('no-js');
(function(){{var b=document.getElementById('primary-mobile-menu');if(b){{b.addEventListener('click',function(){{document.body.classList.toggle('primary-navigation-open');}});}}}})();
</script>
<script src='https://{host}/wp-content/themes/twentytwentyone/assets/js/primary-navigation.js?ver=2.1' id='twenty-twenty-one-primary-navigation-script-js'></script>
<script src='https://{host}/wp-includes/js/comment-reply.min.js?ver=6.4.3' id='comment-reply-js' async data-wp-strategy='async'></script>
</body>
</html>
"""


def tpl_magazine(page: dict) -> str:
    ui, site, lang = page["ui"], page["site"], page["lang"]
    date_s = format_date(page["date"], lang)
    img = slugify(page["title"]) or f"image-{page['n']}"
    return f"""<!doctype html>
<html lang="{lang}" class="no-js">
<head>
{charset_meta(page)}<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{esc(page['title'])} - {esc(site['name'])}</title>
<meta name="description" content="{attr(page['description'])}">
<meta name="keywords" content="{attr(', '.join(page['tags']))}">
<meta name="twitter:card" content="summary_large_image">
<meta property="og:title" content="{attr(page['title'])}">
<meta property="og:image" content="https://{site['host']}/media/{img}-1200x630.jpg">
<link rel="canonical" href="{attr(page['canonical'])}">
<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>
<link rel="stylesheet" href="/assets/main.4f2a9c1e.css">
<style>
:root{{--accent:#2f6f4e;--text:#222}}
header.top{{border-bottom:3px solid var(--accent)}}
.container{{max-width:1180px;margin:0 auto;padding:0 16px}}
article h1{{font-size:2.4rem;line-height:1.15}}
article p{{font-size:1.125rem;line-height:1.7;margin:0 0 1.1em}}
.related a{{color:var(--accent)}}
</style>
<script>document.documentElement.className=document.documentElement.className.replace('no-js','js');</script>
<script type="application/ld+json">{jsonld(page)}</script>
</head>
<body>
<header class="top">
<div class="container">
<a class="brand" href="/"><img src="/assets/logo.svg" alt="{attr(site['name'])}" width="180" height="40"></a>
<button class="menu-toggle" aria-expanded="false">{esc(ui['menu'])}</button>
<nav class="primary" aria-label="Primary">
<ul>
{nav_items(page)}
</ul>
</nav>
<form class="search" action="/search" method="get"><input type="search" name="q" placeholder="{attr(ui['search'])}"></form>
</div>
</header>
<main class="container" id="main-content">
<article class="article">
<p class="kicker"><a href="/{slugify(page['section']) or 'features'}/">{esc(page['section'])}</a></p>
<h1>{esc(page['title'])}</h1>
<div class="meta"><span class="author">{esc(ui['by'])} {esc(page['author'])}</span> <span class="date">{esc(ui['updated'])} {esc(date_s)}</span></div>
<figure class="lead-image"><img src="/media/{img}-800x450.jpg" alt="" width="800" height="450" loading="lazy"></figure>
<div class="article-body">
{body_html(page)}
</div>
<ul class="tags">{''.join(f'<li><a href="/tag/{slugify(t) or "t"}/">{esc(t)}</a></li>' for t in page['tags'])}</ul>
</article>
<section class="related">
<h2>{esc(ui['related'])}</h2>
<ul>
{link_list(page, page['sidebar'], '/' + (slugify(page['section']) or 'features') + '/')}
</ul>
</section>
<aside class="newsletter-box"><h2>{esc(ui['newsletter'])}</h2><form action="/subscribe" method="post"><input type="email" name="email" aria-label="Email"><button>OK</button></form></aside>
</main>
<footer class="site-footer">
<div class="container">
<div class="cols">
<ul><li><a href="/about/">{esc(ui['nav'][4])}</a></li><li><a href="/contact/">{esc(ui['contact'])}</a></li><li><a href="/privacy/">{esc(ui['privacy'])}</a></li><li><a href="/terms/">{esc(ui['terms'])}</a></li></ul>
</div>
<p class="small">&copy; {page['date'].year} {esc(site['name'])} &middot; {esc(ui['rights'])}</p>
<p class="small cookie-note">{esc(ui['cookie'])}</p>
</div>
</footer>
<script src="/assets/main.8b1d0e77.js" defer></script>
<script>
window.addEventListener('load',function(){{var t=document.querySelector('.menu-toggle');t&&t.addEventListener('click',function(){{document.body.classList.toggle('nav-open');}});}});
</script>
</body>
</html>
"""


def tpl_classic(page: dict) -> str:
    ui, site, lang = page["ui"], page["site"], page["lang"]
    date_s = format_date(page["date"], lang)
    nav = "\n".join(f'<li><a href="/{slugify(x) or "index"}.html">{esc(x)}</a></li>' for x in ui["nav"])
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="{lang}" lang="{lang}">
<head>
{charset_meta(page, xhtml=True)}<title>{esc(page['title'])} - {esc(site['name'])}</title>
<meta name="keywords" content="{attr(', '.join(page['tags']))}" />
<meta name="description" content="{attr(page['description'])}" />
<link href="/css/style.css" rel="stylesheet" type="text/css" />
<link rel="shortcut icon" href="/favicon.ico" />
<style type="text/css">
#container {{ width: 960px; margin: 0 auto; background: #fffdf5; }}
#header {{ height: 90px; background: #5b3a1e url(/images/header.jpg) no-repeat; }}
#menu ul {{ margin: 0; padding: 0; }}
#menu li {{ display: inline; padding: 0 12px; }}
#content {{ float: left; width: 640px; padding: 10px 20px; }}
#sidebar {{ float: right; width: 240px; font-size: 12px; }}
#footer {{ clear: both; font-size: 11px; text-align: center; color: #666; }}
</style>
<script type="text/javascript" src="/js/jquery-1.4.2.min.js"></script>
<script type="text/javascript">
  var _gaq = _gaq || [];
  _gaq.push(['_setAccount', 'UA-{page['track'][:7]}-1']);
  _gaq.push(['_trackPageview']);
</script>
</head>
<body>
<div id="container">
<div id="header"><h2 class="sitename"><a href="/">{esc(site['name'])}</a></h2><div class="slogan">{esc(site['tagline'])}</div></div>
<div id="menu"><ul>
{nav}
</ul></div>
<div id="wrapper">
<div id="content">
<h1>{esc(page['title'])}</h1>
<div class="date">{esc(date_s)}</div>
{body_html(page)}
</div>
<div id="sidebar">
<h3>{esc(ui['latest'])}</h3>
<ul>
{link_list(page, page['sidebar'], '/articles/')}
</ul>
<h3>{esc(ui['archives'])}</h3>
<ul><li><a href="/archive/{page['date'].year}.html">{page['date'].year}</a></li><li><a href="/archive/{page['date'].year - 1}.html">{page['date'].year - 1}</a></li></ul>
</div>
</div>
<div id="footer">
<p>&copy; 2006-{page['date'].year} {esc(site['name'])} | <a href="/sitemap.html">Sitemap</a> | <a href="/contact.html">{esc(ui['contact'])}</a></p>
<p>{esc(ui['cookie'])}</p>
</div>
</div>
</body>
</html>
"""


def tpl_corporate(page: dict) -> str:
    ui, site, lang = page["ui"], page["site"], page["lang"]
    date_s = format_date(page["date"], lang)
    return f"""<!DOCTYPE html>
<html lang="{lang}" data-theme="light">
<head>
{charset_meta(page)}<meta name="viewport" content="width=device-width, initial-scale=1, shrink-to-fit=no">
<title>{esc(page['title'])} | {esc(site['name'])}</title>
<meta name="description" content="{attr(page['description'])}">
<meta name="author" content="{attr(page['author'])}">
<link rel="canonical" href="{attr(page['canonical'])}">
<link href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.2/dist/css/bootstrap.min.css" rel="stylesheet" crossorigin="anonymous">
<style>
.navbar-brand{{font-weight:700;letter-spacing:.02em}}
.post-content p{{font-size:1.05rem;line-height:1.75}}
.toc{{position:sticky;top:1rem}}
#cookie-consent{{position:fixed;bottom:1rem;right:1rem;max-width:360px;z-index:1030}}
</style>
</head>
<body id="top">
<nav class="navbar navbar-expand-lg bg-body-tertiary border-bottom">
<div class="container">
<a class="navbar-brand" href="/">{esc(site['name'])}</a>
<button class="navbar-toggler" type="button" data-bs-toggle="collapse" data-bs-target="#nav" aria-controls="nav" aria-expanded="false" aria-label="Toggle navigation"><span class="navbar-toggler-icon"></span></button>
<div class="collapse navbar-collapse" id="nav"><ul class="navbar-nav ms-auto">
{nav_items(page)}
</ul></div>
</div>
</nav>
<div class="container my-5">
<div class="row">
<main class="col-lg-8">
<article class="post">
<h1 class="display-6">{esc(page['title'])}</h1>
<p class="text-muted small">{esc(page['author'])} &middot; {esc(date_s)}</p>
<div class="post-content">
{body_html(page)}
</div>
</article>
</main>
<aside class="col-lg-4">
<div class="toc card card-body">
<h2 class="h6 text-uppercase">{esc(ui['related'])}</h2>
<ul class="list-unstyled">
{link_list(page, page['sidebar'], '/blog/')}
</ul>
</div>
</aside>
</div>
</div>
<footer class="bg-dark text-light py-4">
<div class="container">
<div class="row">
<div class="col-md-4"><h3 class="h6">{esc(site['name'])}</h3><p class="small">{esc(site['tagline'])}</p></div>
<div class="col-md-4"><ul class="list-unstyled small"><li><a class="link-light" href="/about">{esc(ui['nav'][4])}</a></li><li><a class="link-light" href="/careers">Careers</a></li><li><a class="link-light" href="/contact">{esc(ui['contact'])}</a></li></ul></div>
<div class="col-md-4"><ul class="list-unstyled small"><li><a class="link-light" href="/privacy">{esc(ui['privacy'])}</a></li><li><a class="link-light" href="/terms">{esc(ui['terms'])}</a></li></ul></div>
</div>
<p class="small mb-0">&copy; {page['date'].year} {esc(site['name'])}. {esc(ui['rights'])}</p>
</div>
</footer>
<div id="cookie-consent" class="card shadow"><div class="card-body small">{esc(ui['cookie'])} <button class="btn btn-sm btn-primary" onclick="this.closest('#cookie-consent').remove()">{esc(ui['accept'])}</button></div></div>
<script src="https://cdn.jsdelivr.net/npm/bootstrap@5.3.2/dist/js/bootstrap.bundle.min.js" crossorigin="anonymous"></script>
</body>
</html>
"""


TEMPLATES = {"news": tpl_news, "blog": tpl_blog, "magazine": tpl_magazine, "classic": tpl_classic,
             "corporate": tpl_corporate}


# ---------------------------------------------------------------------------------------------
# HTTP response headers, per server software.  Like Common Crawl, the stored payload is the
# decoded one: Content-Encoding / Transfer-Encoding are kept as X-Crawler-* and Content-Length
# is the stored length.
# ---------------------------------------------------------------------------------------------
REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 308: "Permanent Redirect",
           404: "Not Found", 500: "Internal Server Error"}


def response_headers(rng: random.Random, server: str, status: int, ctype: str | None, length: int,
                     when: datetime, extra: list | None = None, host: str = "") -> list[tuple[str, str]]:
    d = http_date(when)
    last_mod = http_date(when - timedelta(days=rng.randint(1, 400), seconds=rng.randint(0, 86399)))
    etag = '"%x-%x"' % (rng.getrandbits(24), rng.getrandbits(36))
    squeezed = length > 600 and ctype is not None and (ctype.startswith("text/") or "json" in ctype or "xml" in ctype)
    ct = [("Content-Type", ctype)] if ctype is not None else []
    extra = list(extra or [])
    if server == "nginx":
        h = [("Server", "nginx"), ("Date", d), *ct, ("X-Crawler-Transfer-Encoding", "chunked"),
             ("Connection", "keep-alive"), ("Vary", "Accept-Encoding"), *extra,
             ("X-Frame-Options", "SAMEORIGIN")]
        if squeezed:
            h.append(("X-Crawler-Content-Encoding", "gzip"))
    elif server in ("apache", "wordpress"):
        h = [("Date", d), ("Server", "Apache/2.4.57 (Debian)" if server == "apache" else "Apache")]
        if server == "wordpress":
            h += [("X-Powered-By", "PHP/8.1.27")]
            if status == 200 and host:
                h.append(("Link", f'<https://{host}/wp-json/>; rel="https://api.w.org/"'))
        else:
            h += [("Last-Modified", last_mod), ("ETag", etag), ("Accept-Ranges", "bytes")]
        h += [*extra, ("Vary", "Accept-Encoding")]
        if squeezed:
            h.append(("X-Crawler-Content-Encoding", "gzip"))
        h += [("Keep-Alive", "timeout=5, max=100"), ("Connection", "Keep-Alive"), *ct]
    elif server == "cloudflare":
        ray = "%016x-%s" % (rng.getrandbits(64), rng.choice(["LHR", "MAN", "DUB", "FRA", "AMS", "CDG"]))
        h = [("Date", d), *ct, ("X-Crawler-Transfer-Encoding", "chunked"), ("Connection", "keep-alive"),
             *extra, ("Vary", "Accept-Encoding"), ("CF-Cache-Status", "DYNAMIC"), ("Server", "cloudflare"),
             ("CF-RAY", ray)]
        if squeezed:
            h.append(("X-Crawler-Content-Encoding", "br"))
        h.append(("alt-svc", 'h3=":443"; ma=86400'))
    elif server == "iis":
        h = [("Cache-Control", "private"), *ct, ("Server", "Microsoft-IIS/10.0"), *extra,
             ("X-AspNet-Version", "4.0.30319"), ("X-Powered-By", "ASP.NET"), ("Date", d)]
    elif server == "netlify":
        h = [("Age", str(rng.randint(0, 5000))), ("Cache-Control", "public, max-age=0, must-revalidate"), *ct,
             ("Date", d), ("Etag", etag), *extra, ("Server", "Netlify"),
             ("Strict-Transport-Security", "max-age=31536000"), ("X-Nf-Request-Id", "01HQ%020X" % rng.getrandbits(80))]
        if squeezed:
            h.append(("X-Crawler-Content-Encoding", "br"))
    elif server == "litespeed":
        h = [("Connection", "Keep-Alive"), ("Keep-Alive", "timeout=5, max=100"), ("X-Powered-By", "PHP/8.2.15"),
             *ct, ("Last-Modified", last_mod), *extra, ("X-LiteSpeed-Cache", "hit"), ("Date", d),
             ("Server", "LiteSpeed")]
        if squeezed:
            h.append(("X-Crawler-Content-Encoding", "gzip"))
    elif server == "gws":  # Blogger
        h = [*ct, ("Expires", d), ("Date", d), ("Cache-Control", "private, max-age=0"), ("Last-Modified", last_mod),
             ("ETag", "W/" + etag), *extra, ("X-Content-Type-Options", "nosniff"), ("X-XSS-Protection", "0"),
             ("Server", "GSE")]
        if squeezed:
            h.append(("X-Crawler-Content-Encoding", "gzip"))
    else:
        raise ValueError(server)
    h.append(("Content-Length", str(length)))
    return h


# ---------------------------------------------------------------------------------------------
# Non-HTML payloads
# ---------------------------------------------------------------------------------------------
def make_pdf(title: str, lines: list[str]) -> bytes:
    def pdf_str(s):
        return "(" + s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"
    text = [f"BT /F1 16 Tf 56 780 Td {pdf_str(title)} Tj ET", "BT /F1 11 Tf 56 748 Td 15 TL"]
    text += [f"{pdf_str(line)} '" for line in lines]
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + pdf_str(title).encode("latin-1") + b" /Producer (Microsoft\xae Word 2016) /CreationDate (D:20240115093000Z) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def make_jpeg(rng: random.Random, width: int, height: int, n_bytes: int) -> bytes:
    """JFIF-shaped bytes (SOI, APP0, DQT, SOF0, SOS, scan data, EOI); not a decodable picture."""
    qt = bytes(rng.randint(2, 60) for _ in range(64))
    scan = bytearray(rng.randbytes(n_bytes))
    for i in range(len(scan)):  # no markers inside the scan
        if scan[i] == 0xFF:
            scan[i] = 0xFE
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x01\x00\x48\x00\x48\x00\x00"
            + b"\xff\xdb\x00\x43\x00" + qt
            + b"\xff\xc0\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big")
            + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
            + b"\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00" + bytes(scan) + b"\xff\xd9")


NGINX_ERROR = ("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n"
               "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
APACHE_302 = ('<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>302 Found</title>\n</head><body>\n'
              '<h1>Found</h1>\n<p>The document has moved <a href="{loc}">here</a>.</p>\n</body></html>\n')
APACHE_404 = ('<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n'
              '<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n<hr>\n'
              '<address>Apache/2.4.57 (Debian) Server at {host} Port 443</address>\n</body></html>\n')
IIS_404 = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n'
           '<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>\r\n'
           '<title>404 - File or directory not found.</title>\r\n<style type="text/css">\r\n<!--\r\nbody{{margin:0;font-size:.7em;font-family:Verdana, Arial, Helvetica, sans-serif;background:#EEEEEE;}}\r\n'
           'fieldset{{padding:0 15px 10px 15px;}}\r\n-->\r\n</style>\r\n</head>\r\n<body>\r\n<div id="header"><h1>Server Error</h1></div>\r\n'
           '<div id="content">\r\n <div class="content-container"><fieldset>\r\n  <h2>404 - File or directory not found.</h2>\r\n'
           '  <h3>The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.</h3>\r\n'
           ' </fieldset></div>\r\n</div>\r\n</body>\r\n</html>\r\n')

LOW_KEYWORDS = {
    "www.cheap-car-insurance-quotes-uk.info": ("Cheap Car Insurance | Car Insurance Quotes | Best Car Insurance UK", [
        "cheap car insurance", "car insurance quotes", "best car insurance uk", "young driver insurance",
        "compare car insurance", "instant car insurance quote", "cheap insurance online", "car insurance deals 2024",
        "low cost car insurance", "car insurance new drivers", "fully comp car insurance", "monthly car insurance",
        "car insurance calculator", "temporary car insurance", "cheapest car insurance uk", "car insurance online uk"]),
    "best-flight-deals-2024.net": ("Cheap Flights | Flight Deals | Last Minute Flights 2024", [
        "cheap flights", "flight deals", "last minute flights", "cheap flights to london", "cheap flights to paris",
        "book cheap flights online", "cheap return flights", "flights to spain this summer", "cheap holiday flights",
        "best time to book flights", "discount air tickets", "cheap flights from manchester", "one way flights cheap",
        "cheap business class", "flight offers today", "cheap flights for the whole family"]),
    "www.mobile-phone-deals-compare.co": ("Mobile Phone Deals | SIM Only Deals | Cheap Phones", [
        "mobile phone deals", "sim only deals", "cheap mobile phones", "best phone contracts", "unlimited data sim",
        "cheap smartphones uk", "phone deals no credit check", "refurbished phones cheap", "pay monthly phones",
        "best sim only deal", "cheap iphone deals", "android phone deals", "5g phone deals", "mobile deals today",
        "phone contract comparison", "cheap phone plans"]),
    "discount-shoes-outlet-store.biz": ("Discount Shoes | Cheap Trainers | Shoe Outlet Sale", [
        "discount shoes", "cheap trainers", "shoe outlet", "running shoes sale", "womens shoes cheap",
        "mens trainers discount", "kids shoes sale", "designer shoes cheap", "boots clearance", "sandals sale",
        "cheap school shoes", "shoe shop online", "trainers outlet uk", "best shoe deals", "cheap walking boots",
        "shoes free delivery"]),
}


def low_pages(rng: random.Random) -> list[dict]:
    """The 20 low-quality English pages: (host, path, title, paragraphs, language, subtype)."""
    pages = []
    for host, (title, terms) in LOW_KEYWORDS.items():
        paras = [", ".join(rng.sample(terms, rng.randint(7, 10))) for _ in range(rng.randint(7, 9))]
        pages.append(dict(host=host, path=f"/{slugify(terms[0])}.html", title=title, paragraphs=paras,
                          language="en", subtype="keyword_stuffing"))
    pages += [
        dict(host="www.harlowplumbingservices.co.uk", path="/", title="Harlow Plumbing Services",
             paragraphs=["This website is under construction. Please check back soon."], language="en", subtype="too_short"),
        dict(host="www.newbakerycafe.com", path="/index.html", title="Coming soon",
             paragraphs=["Coming soon!", "Our new website is on its way."], language="en", subtype="too_short"),
        dict(host="www.lindenhurstdental.com", path="/contact/thank-you/", title="Thank you",
             paragraphs=["Thank you. Your message has been sent and we will reply within two working days."],
             language="en", subtype="too_short"),
    ]
    for host, path, title, line, n in [
        ("www.super-savings-club.net", "/offers/today", "Super Savings Club", "Buy now and save big on all orders today!", 40),
        ("www.holiday-prize-draw-online.com", "/enter", "Enter the prize draw", "Enter the free prize draw today and you could win a family holiday!", 35),
        ("www.best-price-guaranteed.shop", "/sale", "Best prices guaranteed", "Best prices guaranteed. Free delivery on every order.", 50),
    ]:
        pages.append(dict(host=host, path=path, title=title, paragraphs=[line] * n, language="en", subtype="repeated_line"))
    directory = ["Restaurants", "Hotels", "Plumbers", "Electricians", "Dentists", "Taxis", "Florists", "Garages",
                 "Hairdressers", "Estate agents", "Solicitors", "Builders", "Cleaners", "Gyms", "Vets", "Opticians",
                 "Bakeries", "Cafes", "Pharmacies", "Locksmiths", "Roofers", "Painters", "Tutors", "Accountants"]
    parts = ["Brake pads", "Brake discs", "Oil filters", "Air filters", "Spark plugs", "Wiper blades", "Bulbs",
             "Batteries", "Exhausts", "Clutch kits", "Shock absorbers", "Timing belts", "Radiators", "Alternators",
             "Starter motors", "Fuel pumps", "Tow bars", "Roof bars", "Floor mats", "Seat covers"]
    towns = TOWNS + ["Northgate", "Southend Hill", "Eastbrook", "Westfield", "Kingsbridge", "Queensway"]
    for host, path, title, labels in [
        ("www.cityguide-directory.com", "/sitemap", "Site map", directory),
        ("www.localbusinesslistings.org", "/browse/towns", "Browse by town", towns),
        ("www.partsforless-online.com", "/site-map.html", "All categories", parts),
    ]:
        lines = [("links", rng.sample(labels, rng.randint(4, 7))) for _ in range(rng.randint(10, 14))]
        pages.append(dict(host=host, path=path, title=title, paragraphs=lines, language=None, subtype="navigation_links"))
    pages += [
        dict(host="www.sunrise-theme-demo.com", path="/sample-page/", title="Sample Page", language=None, subtype="boilerplate",
             paragraphs=[
                 "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
                 "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.",
                 "Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.",
                 "Click here to edit this text.", "Click here to add your own content.",
                 "Lorem ipsum dolor sit amet, consectetur adipiscing elit."]),
        dict(host="www.clickhere-rewards.net", path="/offers", title="Offers", language="en", subtype="boilerplate",
             paragraphs=["Click here to read more.", "Click here to download the free guide.", "Click here to subscribe.",
                         "Click here for the best deals.", "Click here to learn more about our services.",
                         "Click here to contact us today.", "Click here to see our latest offers.", "Click here to continue.",
                         "Click here to read more.", "Click here for the best deals.", "Click here to continue."]),
        dict(host="www.template-preview.net", path="/about-us.html", title="About Us", language=None, subtype="boilerplate",
             paragraphs=["Welcome to our website. Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
                         "Click here to read more. Click here to read more. Click here to read more.",
                         "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium.",
                         "Your text here. Your text here. Your text here.", "Read more", "Read more", "Read more"]),
    ]
    lottery = []
    d = date(2023, 12, 30)
    for _ in range(36):
        nums = sorted(rng.sample(range(1, 60), 6))
        lottery.append(f"{d:%d/%m/%Y} | " + " ".join(f"{x:02d}" for x in nums)
                       + f" | {rng.randint(1, 59):02d} | {rng.randint(1, 9)},{rng.randint(100, 999)},{rng.randint(100, 999)}")
        d -= timedelta(days=rng.choice([3, 4]))
    fx = []
    rate = 1.1600
    d = date(2024, 2, 16)
    for _ in range(40):
        o = rate
        rate = round(rate + rng.uniform(-0.004, 0.004), 4)
        fx.append(f"{d:%Y-%m-%d} {o:.4f} {max(o, rate) + 0.0011:.4f} {min(o, rate) - 0.0009:.4f} {rate:.4f} {rate - o:+.4f} {(rate - o) / o * 100:+.2f}%")
        d -= timedelta(days=1)
    part_lines = [f"#{rng.randint(1000, 9999)}-{rng.randint(100, 999)}-{rng.choice('ABCDEFGH')} | {rng.randint(1, 250)} | "
                  f"${rng.randint(1, 400)}.{rng.randint(0, 99):02d} | {rng.randint(0, 99)}% | {rng.randint(10000, 99999)}"
                  for _ in range(40)]
    pages += [
        dict(host="www.lottery-results-archive.net", path="/results/2023", title="Results archive 2023",
             paragraphs=lottery, language=None, subtype="numbers"),
        dict(host="www.fx-rates-table.com", path="/gbp-eur/history", title="GBP EUR 1.16", paragraphs=fx,
             language=None, subtype="numbers"),
        dict(host="www.parts-catalogue-numbers.com", path="/list/7731", title="#7731 list", paragraphs=part_lines,
             language=None, subtype="numbers"),
    ]
    teasers = [
        "Ten ways to brighten a shady corner", "Why your tomatoes are splitting and what to do",
        "The best time to prune apple trees", "How to stop slugs eating your lettuces",
        "Five plants that love a north facing wall", "What to sow in March",
        "Is it too late to plant bulbs", "The easiest herbs to grow indoors", "How often should you water pots",
        "Our favourite climbing roses", "When to lift and divide perennials", "Making leaf mould the easy way",
        "Winter jobs in the greenhouse", "How to attract more bees", "Choosing a compost bin",
    ]
    pages.append(dict(host="www.garden-tips-daily.com", path="/latest/", title="Latest tips",
                      paragraphs=[t + "..." for t in teasers], language="en", subtype="ellipsis_teasers"))
    assert len(pages) == 20
    return pages


# ---------------------------------------------------------------------------------------------
# The sample itself
# ---------------------------------------------------------------------------------------------
LABEL_OUT = {"both": "header", "header": "header", "meta": "meta", "meta-http-equiv": "meta", "none": "none",
             "wrong_header": "wrong_header"}

# Plan for the pages in other languages: number of pages, then (charset, label) for the first ones
# (the rest are UTF-8 labelled in both the header and the page).
LANG_PLAN = {
    "fr": (10, [("windows-1252", "header"), ("windows-1252", "wrong_header"), ("windows-1252", "meta-http-equiv"),
                ("utf-8", "none")]),
    "de": (10, [("windows-1252", "meta"), ("iso-8859-1", "header"), ("iso-8859-1", "none"), ("utf-8", "meta")]),
    "es": (11, [("windows-1252", "none"), ("iso-8859-1", "meta-http-equiv"), ("utf-8", "header")]),
    "it": (9, [("iso-8859-1", "header"), ("utf-8", "meta")]),
    "pt": (9, [("iso-8859-1", "meta"), ("windows-1252", "header")]),
    "nl": (9, [("utf-8", "none"), ("utf-8", "meta")]),
    "ru": (11, [("windows-1251", "header"), ("windows-1251", "wrong_header"), ("windows-1251", "none"),
                ("koi8-r", "meta-http-equiv"), ("koi8-r", "header")]),
    "ja": (11, [("shift_jis", "header"), ("shift_jis", "meta"), ("euc-jp", "meta-http-equiv"), ("euc-jp", "header"),
                ("shift_jis", "none")]),
    "zh": (10, [("gbk", "meta-http-equiv"), ("gbk", "header"), ("gbk", "none")]),
}
N_EN_REGULAR = 135

EXTRA_SITES = {
    "countynewswire": _site("www.countynewswire.co.uk", "County Newswire", "en", "local_news", "magazine", "cloudflare", "Regional news, shared"),
    "shiredigest": _site("news.shiredigest.com", "Shire News Digest", "en", "local_news", "corporate", "nginx", "The day's local stories in one place"),
    "recipebox": _site("www.recipebox-daily.com", "Recipe Box Daily", "en", "cooking", "magazine", "cloudflare", "A new recipe every day"),
    "sciencewire": _site("www.sciencewire-digest.net", "ScienceWire Digest", "en", "science", "corporate", "nginx", "Research news in brief"),
    "naturenotes": _site("www.naturenotesonline.org", "Nature Notes Online", "en", "science", "classic", "apache", "Natural history for everyone"),
    "codersdigest": _site("www.codersdigest.dev", "Coders' Digest", "en", "software", "news", "cloudflare", "The best engineering posts of the week"),
    "actualpes": _site("www.actu-des-alpes.fr", "Actu des Alpes", "fr", None, "magazine", "nginx", "Toute l’actualité des Alpes"),
}

SWAPS = [("residents", "locals"), ("said", "stated"), ("about", "around"), ("many", "numerous"), ("small", "little"),
         ("large", "big"), ("begin", "start"), ("quickly", "rapidly"), ("people", "folk"), ("help", "assist"),
         ("often", "frequently"), ("several", "a number of"), ("simple", "straightforward"), ("usually", "generally")]


def swap_words(paragraphs: list[str], n: int) -> list[str]:
    """Replace the first occurrence of the first n swappable words (a syndication copy's edits)."""
    text = "\n".join(paragraphs)
    done = 0
    for a, b in SWAPS:
        if done == n:
            break
        new = re.sub(r"\b%s\b" % a, b, text, count=1)
        if new != text:
            text, done = new, done + 1
    return text.split("\n")


def host_name(host: str) -> str:
    core = host.split(".")[1] if host.startswith("www.") else host.split(".")[0]
    return " ".join(w.capitalize() for w in re.split(r"[-_]", core))


class Sample:
    def __init__(self, seed: int = SEED):
        self.rng = random.Random(seed)
        self.urls: set[str] = set()
        self.titles: set[str] = set()
        self.n = 0
        self.caps: list[dict] = []
        self.reserved = {spec["title"] for spec in BLOCKLISTED + LOOKALIKES}

    # -- pages ---------------------------------------------------------------------------------
    def compose_en(self, topic: str, subject: str | None = None, n_body=(10, 15), title: str | None = None):
        rng, bank = self.rng, EN_TOPICS[topic]
        for _ in range(100):
            subj = subject or rng.choice(bank["subjects"])
            ctx = {"subject": subj, "Subject": cap(subj), "town": rng.choice(TOWNS)}
            t = title or fill(rng, rng.choice(bank["titles"]), ctx)
            if t not in self.titles and (title or t not in self.reserved):
                break
        else:
            raise RuntimeError("ran out of titles for " + topic)
        self.titles.add(t)
        sents = [fill(rng, rng.choice(bank["intros"]), ctx)]
        sents += [fill(rng, s, ctx) for s in rng.sample(bank["body"], rng.randint(*n_body))]
        sents.append(rng.choice(EN_CLOSERS))
        return t, group_sentences(rng, sents, 2, 4), ctx

    def compose_lang(self, lang: str, n=(8, 11), exclude=()):
        rng, bank = self.rng, LANG_BANKS[lang]
        ctx = {"town": rng.choice(bank["towns"])}
        pool = [s for s in bank["sentences"] if s not in exclude]
        sents = [fill(rng, s, ctx, {}) for s in rng.sample(pool, rng.randint(*n))]
        return group_sentences(rng, sents, 2, 3, "" if lang in ("ja", "zh") else " "), ctx

    def sidebar_titles(self, site: dict, exclude: str) -> list[str]:
        rng = self.rng
        if site["lang"] == "en" and not site.get("topic"):
            return rng.sample(["Special offers", "Latest deals", "Customer reviews", "Frequently asked questions",
                               "Delivery information", "Price match promise", "Gift vouchers", "Store finder"], 5)
        if site["lang"] == "en":
            bank = EN_TOPICS[site["topic"]]
            out = []
            while len(out) < 5:
                ctx = {"subject": rng.choice(bank["subjects"]), "town": rng.choice(TOWNS)}
                ctx["Subject"] = cap(ctx["subject"])
                t = fill(rng, rng.choice(bank["titles"]), ctx)
                if t != exclude and t not in out:
                    out.append(t)
            return out
        return rng.sample([t for t in LANG_BANKS[site["lang"]]["titles"] if t != exclude], 5)

    def make_path(self, site: dict, title: str, d: date, section: str) -> str:
        rng = self.rng
        slug, pid = slugify(title), rng.randrange(100000, 999999)
        latin = site["lang"] not in ("ru", "ja", "zh")
        tpl = site["template"]
        if tpl == "news":
            return f"/{slugify(section) or 'news'}/{d:%Y/%m}/{slug}-{pid}" if latin else f"/news/{d:%Y/%m}/{pid}.html"
        if tpl == "blog":
            if site["server"] == "gws":
                return f"/{d:%Y/%m}/{slug[:40].rstrip('-')}.html"
            return f"/{d:%Y/%m}/{slug}/" if latin else f"/entry/{d:%Y/%m/%d}/{pid}"
        if tpl == "magazine":
            return f"/{slugify(section) or 'features'}/{slug}" if latin else f"/article/{pid}"
        if tpl == "classic":
            if latin:
                return f"/articles/{slug}.html"
            return f"/a/{d:%Y%m}/{pid}.shtml" if site["lang"] == "zh" else f"/articles/{pid}.htm"
        return f"/blog/{slug}"

    def add_url(self, url: str) -> str:
        assert url not in self.urls, url
        self.urls.add(url)
        return url

    def page(self, site: dict, title: str, paragraphs: list, *, charset="utf-8", label="both", path=None,
             subheads=None, comments=None, section=None, canonical=None) -> dict:
        rng = self.rng
        self.n += 1
        lang = site["lang"]
        ui = UI[lang]
        d = date(2023, 3, 1) + timedelta(days=rng.randint(0, 350))
        section = section or (EN_TOPIC_LABELS[site["topic"]] if site.get("topic") else rng.choice(ui["nav"][1:4]))
        author = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}" if lang == "en" else rng.choice(AUTHORS[lang])
        url = self.add_url(f"{site['scheme']}://{site['host']}{path or self.make_path(site, title, d, section)}")
        first = visible(paragraphs[0])
        desc = first if len(first) <= 155 else first[:first.rfind(" ", 0, 150)] + "..."
        if lang in ("ja", "zh") and len(first) > 80:
            desc = first[:78] + "..."
        meta_name = CHARSETS[charset][1]
        if charset == "gbk" and label in ("meta", "meta-http-equiv"):
            meta_name = "gb2312"
        if charset == "utf-8" and rng.random() < 0.4:
            meta_name = "utf-8"
        if comments is None and site["template"] == "blog" and lang == "en":
            comments = rng.sample(EN_COMMENTS, rng.randint(2, 3))
        return dict(n=self.n, lang=lang, ui=ui, site=site, title=title, paragraphs=paragraphs,
                    subheads=subheads or {}, author=author, date=d, section=section,
                    tags=[section] + ([site["topic"].replace("_", " ")] if site.get("topic") else []),
                    sidebar=self.sidebar_titles(site, title), canonical=canonical or url, url=url,
                    description=desc, track=str(rng.randrange(10 ** 9, 10 ** 10)), label=label,
                    charset=charset, meta_charset_name=meta_name, comments=comments)

    @staticmethod
    def render(page: dict) -> bytes:
        return TEMPLATES[page["site"]["template"]](page).encode(CHARSETS[page["charset"]][0])

    def html_capture(self, page: dict, *, body: bytes | None = None, url: str | None = None, kind="html",
                     quality="good", language="page", ctype=None, identified=None, **flags) -> dict:
        body = self.render(page) if body is None else body
        label = page["label"]
        if ctype is None:
            if label in ("both", "header"):
                cs = CHARSETS[page["charset"]][1]
                ctype = f"text/html; charset={'utf-8' if cs == 'UTF-8' and self.rng.random() < 0.3 else cs}"
            elif label == "wrong_header":
                ctype = "text/html; charset=UTF-8"
            else:
                ctype = "text/html"
        if identified is None:
            identified = "application/xhtml+xml" if page["site"]["template"] == "classic" else "text/html"
        url = url or page["url"]
        cap_ = dict(url=url, status=200, kind=kind, server=page["site"]["server"],
                    host=url.split("/")[2], content_type=ctype, body=body, identified_type=identified,
                    language=page["lang"] if language == "page" else language, charset=page["charset"],
                    charset_label=LABEL_OUT[label], quality=quality, blocklisted=False, lookalike=False,
                    dup_group=None, near_group=None, paragraphs=[visible(p) for p in page["paragraphs"]],
                    extra_headers=[], truncated=False)
        cap_.update(flags)
        self.caps.append(cap_)
        return cap_

    def other_capture(self, url: str, status: int, kind: str, server: str, ctype: str | None, body: bytes, *,
                      identified=None, charset=None, charset_label="none", extra_headers=()) -> dict:
        self.add_url(url)
        cap_ = dict(url=url, status=status, kind=kind, server=server, host=url.split("/")[2], content_type=ctype,
                    body=body, identified_type=identified, language=None, charset=charset,
                    charset_label=charset_label, quality=None, blocklisted=False, lookalike=False, dup_group=None,
                    near_group=None, paragraphs=None, extra_headers=list(extra_headers), truncated=False)
        self.caps.append(cap_)
        return cap_

    # -- the parts of the sample -----------------------------------------------------------------
    def english_pages(self):
        rng = self.rng
        for i in range(N_EN_REGULAR):
            site = EN_SITES[i % len(EN_SITES)]
            charset, label, quotes = "utf-8", "both", False
            if i % 9 == 4:
                label = "meta"
            elif i % 13 == 6:
                label = "header"
            elif i % 17 == 8:
                label = "none"
            if i == 30:
                charset, label, quotes = "windows-1252", "none", True
            elif i == 75:
                charset, label, quotes = "windows-1252", "header", True
            elif i == 61:
                charset, label = "iso-8859-1", "header"
            title, paras, ctx = self.compose_en(site["topic"])
            if quotes:
                title, paras = smart_quotes(title), [smart_quotes(p) for p in paras]
            if charset == "iso-8859-1":
                paras[-1] += " Tea and cake in the café afterwards cost £3, and children under five go free."
            ctype = identified = None
            if i == 41:  # real HTML served as text/plain
                ctype, identified = "text/plain; charset=utf-8", "text/html"
            elif i == 90:  # real HTML served as application/octet-stream
                ctype, identified, label = "application/octet-stream", "text/html", "meta"
            page = self.page(site, title, paras, charset=charset, label=label)
            self.html_capture(page, ctype=ctype, identified=identified)

    def language_pages(self):
        for lang, (count, special) in LANG_PLAN.items():
            sites = LANG_SITES[lang]
            titles = self.rng.sample(LANG_BANKS[lang]["titles"], count)
            for i in range(count):
                charset, label = special[i] if i < len(special) else ("utf-8", "both")
                paras, _ = self.compose_lang(lang)
                self.titles.add(titles[i])
                page = self.page(sites[i % 2], titles[i], paras, charset=charset, label=label)
                self.html_capture(page)

    def low_quality_pages(self):
        rng = self.rng
        templates = ["corporate", "classic", "news", "magazine", "blog"]
        servers = ["nginx", "apache", "cloudflare", "litespeed", "iis"]
        for j, spec in enumerate(low_pages(rng)):
            site = _site(spec["host"], host_name(spec["host"]), "en", None, templates[j % 5], servers[j % 5], "")
            page = self.page(site, spec["title"], spec["paragraphs"], path=spec["path"], section="Home",
                             comments=[])
            self.html_capture(page, quality="low", language=spec["language"], low_type=spec["subtype"])

    def url_filter_pages(self):
        templates = ["magazine", "blog", "news", "corporate", "classic"]
        for j, spec in enumerate(BLOCKLISTED + LOOKALIKES):
            site = _site(spec["host"], host_name(spec["host"]), "en", spec["topic"], templates[j % 5],
                         ["nginx", "apache", "cloudflare"][j % 3], "")
            title, paras, _ = self.compose_en(spec["topic"], subject=spec["subject"], title=spec["title"])
            page = self.page(site, title, paras, path=spec["path"])
            flag = "blocklisted" if "reason" in spec else "lookalike"
            self.html_capture(page, **{flag: True})

    def near_duplicate_groups(self):
        rng = self.rng
        E = EXTRA_SITES
        by_host = {s["host"]: s for s in EN_SITES}
        groups = [
            ("local_news", [by_host["www.riverside-gazette.co.uk"], E["countynewswire"], E["shiredigest"]],
             [(), ("intro", "dateline"), ("swap4", "credit")]),
            ("cooking", [by_host["www.thekitchennotebook.com"], E["recipebox"]], [(), ("intro", "swap3")]),
            ("science", [by_host["www.labnotes-science.org"], by_host["www.curiousplanet.info"], E["sciencewire"],
                         E["naturenotes"]],
             [(), ("intro", "dateline"), ("dateline", "swap3"), ("intro", "swap2", "credit")]),
            ("software", [by_host["engineering.tidewaterlabs.io"], E["codersdigest"], by_host["www.bytesandbuilds.dev"]],
             [(), ("credit", "swap3"), ("intro",)]),
        ]
        for g, (topic, sites, variants) in enumerate(groups, 1):
            title, base, ctx = self.compose_en(topic, n_body=(22, 24))
            bank = EN_TOPICS[topic]
            for site, variant in zip(sites, variants):
                paras = list(base)
                if "intro" in variant:
                    first_sentence = paras[0].split(". ")[0] + "."
                    other = first_sentence
                    while other == first_sentence:
                        other = fill(rng, rng.choice(bank["intros"]), ctx)
                    paras[0] = paras[0].replace(first_sentence, other, 1)
                if "dateline" in variant:
                    d = date(2024, 1, 8) + timedelta(days=rng.randint(0, 35))
                    paras[0] = f"{ctx['town'].upper()}, {format_date(d, 'en')}: " + paras[0]
                for k in (2, 3, 4):
                    if f"swap{k}" in variant:
                        paras = swap_words(paras, k)
                if "credit" in variant:
                    paras.append(f"This article was first published by {sites[0]['name']} and is republished with permission.")
                page = self.page(site, title, paras)
                self.html_capture(page, near_group=f"near-{g}")
        # a French one: the same column on two sites, with another opening sentence and a date line
        paras, ctx = self.compose_lang("fr", n=(13, 14))
        title = "Chronique de la semaine : marché, travaux et sorties"
        self.titles.add(title)
        fr_sites = [LANG_SITES["fr"][0], EXTRA_SITES["actualpes"]]
        first = paras[0].split(". ")[0] + "."
        text = " ".join(paras)
        other = rng.choice([x for x in (fill(rng, s, ctx, {}) for s in LANG_BANKS["fr"]["sentences"]) if x not in text])
        variant = list(paras)
        variant[0] = "Mis à jour le 9 février 2024. " + variant[0].replace(first, other, 1)
        for site, p in zip(fr_sites, [paras, variant]):
            page = self.page(site, title, p)
            self.html_capture(page, near_group="near-5")

    def exact_duplicate_groups(self):
        by_host = {s["host"]: s for s in EN_SITES}
        specs = [
            (by_host["www.harbourtownherald.com"], "utf-8",
             lambda u: [u + "?utm_source=rss&utm_medium=rss&utm_campaign=local-news",
                        u.replace("://www.", "://m.")]),
            (by_host["oldmillbakes.blogspot.com"], "utf-8", lambda u: [u + "?m=1"]),
            (by_host["www.historyhollow.org"], "utf-8", lambda u: [u.replace("https://www.", "http://")]),
            (LANG_SITES["de"][0], "iso-8859-1", lambda u: [u.split("/", 3)[0] + "//" + u.split("/")[2] + "/index.php?id=4711"]),
        ]
        for g, (site, charset, copies) in enumerate(specs, 1):
            if site["lang"] == "en":
                title, paras, _ = self.compose_en(site["topic"])
            else:
                title = "Kräuter auf der Fensterbank: so klappt es"
                self.titles.add(title)
                paras, _ = self.compose_lang("de")
            page = self.page(site, title, paras, charset=charset, label="both")
            first = self.html_capture(page, dup_group=f"dup-{g}")
            for u in copies(page["url"]):
                self.add_url(u)
                self.html_capture(page, body=first["body"], url=u, dup_group=f"dup-{g}")

    def truncated_and_large(self):
        rng = self.rng
        by_host = {s["host"]: s for s in EN_SITES}
        # a response cut off in the middle of the article (the fetcher's limit), WARC-Truncated: length
        site = by_host["www.maplecountyrecords.ca"]
        title, paras, _ = self.compose_en("history", n_body=(30, 32))
        page = self.page(site, title, paras)
        full = self.render(page)
        k = len(paras) // 2
        start = full.index(("<p>" + esc(paras[k])).encode("utf-8"))
        body = full[:start + 3 + len(esc(paras[k]).encode("utf-8")) // 2]
        self.html_capture(page, body=body, kind="truncated", quality=None, truncated=True)
        self.caps[-1]["paragraphs"] = paras[:k]
        # one page of about 1.2 MB: a very long local history, kind too_large
        site = by_host["www.oldroadsociety.org.uk"]
        title = "The turnpike roads of Thornbury Vale: a complete history, 1700 to 1900"
        self.titles.add(title)
        banks = [EN_TOPICS[t] for t in ("history", "travel", "local_news", "science")]
        paras, subheads, size, chapter = [], {}, 0, 0
        while size < TOO_LARGE_BYTES:
            bank = banks[chapter % len(banks)]
            subj = rng.choice(bank["subjects"])
            ctx = {"subject": subj, "Subject": cap(subj), "town": rng.choice(TOWNS)}
            chapter += 1
            subheads[len(paras)] = f"Chapter {chapter}: {cap(subj)} and {ctx['town']}"
            for _ in range(rng.randint(5, 8)):
                sents = [fill(rng, s, ctx) for s in rng.sample(bank["body"], rng.randint(3, 5))]
                paras.append(" ".join(sents))
                size += len(paras[-1]) + 8
        page = self.page(site, title, paras, subheads=subheads, path="/histories/turnpike-roads-of-thornbury-vale-complete")
        body = self.render(page)
        assert len(body) > 1_100_000, len(body)
        self.html_capture(page, body=body, kind="too_large", quality=None)
        self.caps[-1]["paragraphs"] = None

    def other_responses(self):
        rng = self.rng
        nginx = lambda code: NGINX_ERROR.format(code=code, reason=REASONS[code]).encode("ascii")
        # redirects
        loc = "https://www.riverside-gazette.co.uk/"
        self.other_capture("http://www.riverside-gazette.co.uk/", 301, "redirect", "nginx", "text/html", nginx(301),
                           identified="text/html", charset="utf-8", extra_headers=[("Location", loc)])
        loc = "https://www.thekitchennotebook.com/2023/11/apple-crumble-for-a-crowd/"
        self.other_capture("https://thekitchennotebook.com/2023/11/apple-crumble-for-a-crowd/", 301, "redirect",
                           "wordpress", "text/html; charset=UTF-8", b"", charset="utf-8", charset_label="header",
                           extra_headers=[("X-Redirect-By", "WordPress"), ("Location", loc)])
        loc = "https://www.historyhollow.org/articles/the-village-mill-and-its-millers.html"
        self.other_capture("https://www.historyhollow.org/articles/mill.html", 302, "redirect", "apache",
                           "text/html; charset=iso-8859-1", APACHE_302.format(loc=loc).encode("ascii"),
                           identified="text/html", charset="iso-8859-1", charset_label="header",
                           extra_headers=[("Location", loc)])
        loc = "https://wanderingboots.net/2023/09/three-slow-days-in-lisbon/"
        self.other_capture("https://wanderingboots.net/?p=2817", 301, "redirect", "wordpress",
                           "text/html; charset=UTF-8", b"", charset="utf-8", charset_label="header",
                           extra_headers=[("X-Redirect-By", "WordPress"), ("Location", loc)])
        loc = "https://www.greenfingersweekly.co.uk/advice/"
        self.other_capture("http://greenfingersweekly.co.uk/advice", 301, "redirect", "cloudflare", "text/html",
                           nginx(301).replace(b"nginx", b"cloudflare"), identified="text/html", charset="utf-8",
                           extra_headers=[("Location", loc)])
        loc = "https://www.journal-du-vercors.fr/fr/accueil"
        self.other_capture("https://www.journal-du-vercors.fr/", 302, "redirect", "nginx", "text/html",
                           nginx(302), identified="text/html", charset="utf-8", extra_headers=[("Location", loc)])
        loc = "https://www.bytesandbuilds.dev/blog/unit-testing/"
        self.other_capture("https://www.bytesandbuilds.dev/blog/unit-testing", 308, "redirect", "netlify",
                           "text/plain; charset=utf-8", f"Redirecting to {loc}".encode("ascii"),
                           identified="text/plain", charset="utf-8", charset_label="header",
                           extra_headers=[("Location", loc)])
        # 404s
        by_host = {s["host"]: s for s in EN_SITES}
        site = by_host["www.matchdaymargins.com"]
        page = self.page(site, "Page not found", [
            "Sorry, we could not find the page you were looking for.",
            "It may have been moved or deleted. Try searching the site, or go back to the home page."],
            path="/reports/2019/cup-final-preview", section="Sport")
        self.html_capture(page, kind="not_found", quality=None, language=None, paragraphs=None, status=404)
        self.other_capture("https://www.labnotes-science.org/wp-content/uploads/2021/03/old-diagram.png", 404,
                           "not_found", "nginx", "text/html", nginx(404), identified="text/html", charset="utf-8")
        self.other_capture("https://astro.hillcrest.edu/~jsmith/observing-log-2009.html", 404, "not_found", "apache",
                           "text/html; charset=iso-8859-1", APACHE_404.format(host="astro.hillcrest.edu").encode("ascii"),
                           identified="text/html", charset="iso-8859-1", charset_label="header")
        self.other_capture("https://www.maplecountyrecords.ca/records/search.aspx?id=7781", 404, "not_found", "iis",
                           "text/html", IIS_404.encode("ascii"), identified="text/html", charset="iso-8859-1",
                           charset_label="meta")
        site = LANG_SITES["fr"][1]
        page = self.page(site, "Page introuvable", [
            "Oups ! Cette page n’existe pas ou a été déplacée.",
            "Essayez une recherche, ou revenez à la page d’accueil pour découvrir nos dernières recettes."],
            path="/2019/05/ancienne-recette-de-clafoutis/", comments=[])
        self.html_capture(page, kind="not_found", quality=None, language=None, paragraphs=None, status=404)
        # a server error
        self.other_capture("https://www.valleyvoice.org/events/calendar?month=2024-03", 500, "server_error", "nginx",
                           "text/html", nginx(500), identified="text/html", charset="utf-8")
        # non-HTML
        pdf = make_pdf("Northfield Health Centre - Practice leaflet 2024", [
            "Opening hours: Monday to Friday, 8.00am to 6.30pm.",
            "Repeat prescriptions can be ordered online or at reception.",
            "Please tell us if you change your address or telephone number.",
            "Our patient group meets on the first Tuesday of every month."])
        self.other_capture("https://www.northfieldhealthcentre.org.uk/files/practice-leaflet-2024.pdf", 200, "non_html",
                           "iis", "application/pdf", pdf, identified="application/pdf")
        pdf = make_pdf("Riverside Town Council - Minutes of the meeting held on 15 January 2024", [
            "Present: the Mayor and eleven councillors.", "1. Apologies for absence were received and accepted.",
            "2. The minutes of the previous meeting were approved.", "3. Cycle path: the report of the working group was noted.",
            "4. Correspondence: letters from residents about parking were discussed.", "The meeting closed at 9.05pm."])
        self.other_capture("https://www.riverside-gazette.co.uk/media/documents/council-minutes-january-2024.pdf", 200,
                           "non_html", "nginx", "application/pdf", pdf, identified="application/pdf")
        self.other_capture("https://www.thekitchennotebook.com/wp-content/uploads/2023/11/crumble-1024x768.jpg", 200,
                           "non_html", "apache", "image/jpeg", make_jpeg(rng, 1024, 768, 9000), identified="image/jpeg")
        self.other_capture("https://www.backroadsofireland.ie/media/photos/harbour-at-dusk.jpg", 200, "non_html",
                           "cloudflare", "image/jpeg", make_jpeg(rng, 800, 533, 7000), identified="image/jpeg")
        changelog = "\n".join([
            "Changelog", "=========", "", "2.4.1 (2024-02-12)", "------------------",
            "* Fixed a crash when the settings file was empty.", "* The export dialog remembers the last folder again.",
            "", "2.4.0 (2024-01-29)", "------------------", "* New: dark theme for the editor.",
            "* New: keyboard shortcut to duplicate the current line.", "* Faster start-up on large projects.",
            "* Updated translations (French, German, Japanese).", "", "2.3.2 (2023-12-04)", "------------------",
            "* Security: updated the bundled TLS library.", "* Fixed wrong line numbers in error messages.", ""])
        self.other_capture("https://www.bytesandbuilds.dev/changelog.txt", 200, "non_html", "netlify",
                           "text/plain; charset=utf-8", changelog.encode("utf-8"), identified="text/plain",
                           charset="utf-8", charset_label="header")
        events = [{"id": 4100 + i, "titolo": t, "data": f"2024-03-{d:02d}", "luogo": l, "gratuito": free}
                  for i, (t, d, l, free) in enumerate([
                      ("Mercato contadino", 2, "Piazza Garibaldi", True), ("Concerto della banda", 9, "Teatro comunale", True),
                      ("Corso di cucina", 16, "Biblioteca", False), ("Passeggiata nei boschi", 23, "Parcheggio nord", True)])]
        self.other_capture("https://www.gazzettadelborgo.it/api/v1/events.json", 200, "non_html", "apache",
                           "application/json", json.dumps({"eventi": events, "totale": len(events)}, ensure_ascii=False,
                                                          indent=2).encode("utf-8"),
                           identified="application/json", charset="utf-8")
        css = ("/* main stylesheet */\n:root{--accent:#2f6f4e;--text:#222;--muted:#6b6b6b}\n"
               "*,*::before,*::after{box-sizing:border-box}\nbody{margin:0;font:16px/1.6 system-ui,sans-serif;color:var(--text)}\n"
               "a{color:var(--accent)}\n.container{max-width:1180px;margin:0 auto;padding:0 16px}\n"
               "header.top{display:flex;align-items:center;justify-content:space-between;padding:12px 0}\n"
               "nav.primary ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}\n"
               ".article-body p{margin:0 0 1.1em}\n.related ul{columns:2}\n"
               "@media (max-width:720px){nav.primary{display:none}.related ul{columns:1}}\n")
        self.other_capture("https://www.kiwikitchen.co.nz/assets/main.4f2a9c1e.css", 200, "non_html", "nginx",
                           "text/css", css.encode("ascii"), identified="text/css", charset="utf-8")

    def build(self) -> list[dict]:
        self.english_pages()
        self.language_pages()
        self.low_quality_pages()
        self.url_filter_pages()
        self.near_duplicate_groups()
        self.exact_duplicate_groups()
        self.truncated_and_large()
        self.other_responses()
        return self.caps


# ---------------------------------------------------------------------------------------------
# WARC writing: one gzip member per record (deflate level 9, mtime 0, no file name), record
# headers in Common Crawl's order, WARC/1.0 version lines.
# ---------------------------------------------------------------------------------------------
def gzip_member(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # zlib's gzip header: mtime 0, no name
    return c.compress(data) + c.flush()


def warc_record(fields: list[tuple[str, str]], block: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def cld2_json(language: str | None, text_bytes: int, rng: random.Random) -> str:
    if not language:
        return json.dumps({"reliable": False, "text-bytes": text_bytes, "languages": []}, separators=(",", ":"))
    covered = rng.randint(94, 99) / 100
    code3, name = CLD2[language]
    return json.dumps({"reliable": True, "text-bytes": text_bytes, "languages": [
        {"code": language, "code-iso-639-3": code3, "text-covered": covered, "score": round(covered * 1000 - rng.randint(5, 40), 1),
         "name": name}]}, separators=(",", ":"))


def write_sample(out: Path) -> dict:
    sample = Sample()
    caps = sample.build()
    counts = {}
    for c in caps:
        counts[c["kind"]] = counts.get(c["kind"], 0) + 1
    assert counts == EXPECTED_KIND_COUNTS, counts
    assert len(caps) == 300

    order_rng = random.Random(SEED + 1)
    order_rng.shuffle(caps)
    per_file = len(caps) // N_FILES
    files = [caps[i * per_file:(i + 1) * per_file] for i in range(N_FILES)]

    id_rng = random.Random(SEED + 2)
    ip_rng = random.Random(SEED + 3)
    time_rng = random.Random(SEED + 4)
    meta_rng = random.Random(SEED + 5)
    hdr_rng = random.Random(SEED + 6)
    ips: dict[str, str] = {}

    def rid() -> str:
        return f"<urn:uuid:{uuid.UUID(int=id_rng.getrandbits(128), version=4)}>"

    def ip(host: str) -> str:
        if host not in ips:
            first = ip_rng.choice([5, 31, 37, 46, 62, 77, 78, 81, 85, 91, 93, 104, 109, 141, 151, 172, 176, 185, 188, 192, 193, 195, 212, 213, 217])
            ips[host] = f"{first}.{ip_rng.randrange(256)}.{ip_rng.randrange(256)}.{ip_rng.randrange(1, 255)}"
        return ips[host]

    crawl_dir = out / "crawl-data" / CRAWL_ID
    warc_dir = crawl_dir / "segments" / SEGMENT / "warc"
    warc_dir.mkdir(parents=True, exist_ok=True)
    rel_paths, expected = [], []
    first_seen_dup, first_seen_near = {}, {}

    for fi, file_caps in enumerate(files):
        name = f"{FILE_PREFIX}-{fi:05d}.warc.gz"
        rel_paths.append(f"crawl-data/{CRAWL_ID}/segments/{SEGMENT}/warc/{name}")
        buf = bytearray()
        info_id = rid()
        info = ("isPartOf: CC-MAIN-SAMPLE\r\n"
                "publisher: Common Crawl\r\n"
                "description: Synthetic sample crawl for offline tests, laid out like a Common Crawl main crawl (February 2024)\r\n"
                "operator: Common Crawl Admin (info@commoncrawl.org)\r\n"
                f"hostname: ip-10-67-67-{21 + fi}.ec2.internal\r\n"
                "software: Apache Nutch 1.19 (modified, https://github.com/commoncrawl/nutch/)\r\n"
                "robots: checked via crawler-commons 1.5-SNAPSHOT (https://github.com/crawler-commons/crawler-commons)\r\n"
                "format: WARC File Format 1.1\r\n"
                "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n").encode("utf-8")
        buf += gzip_member(warc_record([
            ("WARC-Type", "warcinfo"), ("WARC-Date", warc_date(CRAWL_START)), ("WARC-Filename", name),
            ("WARC-Record-ID", info_id), ("Content-Type", "application/warc-fields"),
            ("Content-Length", str(len(info)))], info))
        when = CRAWL_START + timedelta(seconds=time_rng.randint(2, 30))
        for c in file_caps:
            when += timedelta(seconds=time_rng.randint(15, 90))
            assert when < CRAWL_END
            url, host = c["url"], c["host"]
            path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
            wdate = warc_date(when)
            addr = ip(host)
            lang_hdr = "en-US,en;q=0.5"
            req = (f"GET {path} HTTP/1.1\r\nUser-Agent: {USER_AGENT}\r\n"
                   "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                   f"Accept-Language: {lang_hdr}\r\nAccept-Encoding: br,gzip\r\nHost: {host}\r\n"
                   "Connection: Keep-Alive\r\n\r\n").encode("ascii")
            req_id, resp_id, meta_id = rid(), rid(), rid()
            buf += gzip_member(warc_record([
                ("WARC-Type", "request"), ("WARC-Date", wdate), ("WARC-Record-ID", req_id),
                ("Content-Length", str(len(req))), ("Content-Type", "application/http; msgtype=request"),
                ("WARC-Warcinfo-ID", info_id), ("WARC-IP-Address", addr), ("WARC-Target-URI", url)], req))

            body = c["body"]
            status = c["status"]
            hdrs = response_headers(hdr_rng, c["server"], status, c["content_type"], len(body),
                                    when - timedelta(seconds=1), c["extra_headers"], host=host)
            http_head = (f"HTTP/1.1 {status} {REASONS[status]}\r\n"
                         + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n").encode("latin-1")
            block = http_head + body
            fields = [("WARC-Type", "response"), ("WARC-Date", wdate), ("WARC-Record-ID", resp_id),
                      ("Content-Length", str(len(block))), ("Content-Type", "application/http; msgtype=response"),
                      ("WARC-Warcinfo-ID", info_id), ("WARC-Concurrent-To", req_id), ("WARC-IP-Address", addr),
                      ("WARC-Target-URI", url), ("WARC-Payload-Digest", sha1_b32(body)),
                      ("WARC-Block-Digest", sha1_b32(block))]
            if c["identified_type"]:
                fields.append(("WARC-Identified-Payload-Type", c["identified_type"]))
            if c["truncated"]:
                fields.append(("WARC-Truncated", "length"))
            buf += gzip_member(warc_record(fields, block))

            meta_lines = [f"fetchTimeMs: {meta_rng.randint(40, 2400)}"]
            if c["charset"]:
                meta_lines.append(f"charset-detected: {CHARSETS[c['charset']][2]}")
            if c["kind"] in ("html", "truncated", "too_large", "not_found", "server_error") and c["paragraphs"] is not None or c["kind"] == "too_large":
                text_bytes = len("\n".join(c["paragraphs"] or []).encode("utf-8")) or len(body) // 3
                meta_lines.append("languages-cld2: " + cld2_json(c["language"], text_bytes, meta_rng))
            meta = ("\r\n".join(meta_lines) + "\r\n").encode("utf-8")
            buf += gzip_member(warc_record([
                ("WARC-Type", "metadata"), ("WARC-Date", wdate), ("WARC-Record-ID", meta_id),
                ("Content-Length", str(len(meta))), ("Content-Type", "application/warc-fields"),
                ("WARC-Warcinfo-ID", info_id), ("WARC-Concurrent-To", resp_id), ("WARC-Target-URI", url)], meta))

            dup_of = near_of = None
            if c["dup_group"]:
                dup_of = first_seen_dup.setdefault(c["dup_group"], url)
                dup_of = None if dup_of == url else dup_of
            if c["near_group"]:
                near_of = first_seen_near.setdefault(c["near_group"], url)
                near_of = None if near_of == url else near_of
            expected.append({
                "warc": name, "record_id": resp_id, "url": url, "status": status, "kind": c["kind"],
                "content_type": c["content_type"], "identified_type": c["identified_type"],
                "language": c["language"], "charset": c["charset"], "charset_label": c["charset_label"],
                "quality": c["quality"], "blocklisted": c["blocklisted"], "lookalike": c["lookalike"],
                "duplicate_of": dup_of, "near_duplicate_of": near_of, "paragraphs": c["paragraphs"],
            })
        (warc_dir / name).write_bytes(bytes(buf))

    (crawl_dir / "warc.paths.gz").write_bytes(gzip_member(("\n".join(rel_paths) + "\n").encode("ascii")))
    collinfo = [
        {"id": CRAWL_ID, "name": "Sample Crawl (synthetic, February 2024 layout)",
         "timegate": f"https://index.commoncrawl.org/{CRAWL_ID}/", "cdx-api": f"https://index.commoncrawl.org/{CRAWL_ID}-index",
         "from": CRAWL_START.strftime("%Y-%m-%dT%H:%M:%S"), "to": CRAWL_END.strftime("%Y-%m-%dT%H:%M:%S")},
        {"id": "CC-MAIN-2023-50", "name": "November/December 2023 Index",
         "timegate": "https://index.commoncrawl.org/CC-MAIN-2023-50/", "cdx-api": "https://index.commoncrawl.org/CC-MAIN-2023-50-index",
         "from": "2023-11-28T09:33:55", "to": "2023-12-12T03:52:05"},
        {"id": "CC-MAIN-2023-40", "name": "September/October 2023 Index",
         "timegate": "https://index.commoncrawl.org/CC-MAIN-2023-40/", "cdx-api": "https://index.commoncrawl.org/CC-MAIN-2023-40-index",
         "from": "2023-09-21T14:21:08", "to": "2023-10-05T04:17:11"},
    ]
    (out / "collinfo.json").write_text(json.dumps(collinfo, indent=2) + "\n", encoding="utf-8")
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"counts": counts, "files": rel_paths}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result = write_sample(args.out)
    print(f"wrote {sum(result['counts'].values())} captures in {len(result['files'])} WARC files under {args.out}")
    for kind, n in sorted(result["counts"].items()):
        print(f"  {kind:13s} {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
